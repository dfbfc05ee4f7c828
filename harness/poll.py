"""The one wait loop: look every so often until something is there or the time is up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def poll_until(look: Callable[[], T | None], *, timeout: float, interval: float, what: str) -> T | None:
    """What LOOK returns once it is not None, or None when TIMEOUT has passed (LOOK runs at least once).

    LOOK may end the wait early by raising. WHAT names what is awaited, for the
    log and for the caller's own timeout message.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        found = look()
        if found is not None:
            log.debug("waited %.2f s for %s", time.monotonic() - started, what)
            return found
        if time.monotonic() >= deadline:
            log.debug("gave up waiting for %s after %.2f s", what, time.monotonic() - started)
            return None
        time.sleep(interval)
