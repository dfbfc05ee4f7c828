"""Subscribers to a drill's steps, each one's failure isolated from the drill and from the others.

A drill tells its listeners about every timeline event as it happens, and,
once it has its verdict, hands them the live target before teardown
(verify-fix runs its further checks there). As in Chaos Toolkit's event
registry, a listener that raises is logged and skipped: a progress line that
cannot be printed must not fail the drill it reports on. Interrupts are not
failures and pass through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from harness.timeline import Event

if TYPE_CHECKING:
    from harness.outcome import Result, Verdict
    from harness.target import Target

log = logging.getLogger(__name__)


class DrillListener:
    """Override what you need; both run on the drill's own thread."""

    def on_event(self, event: Event, offset: float) -> None:
        """An event went on the timeline, OFFSET seconds into the drill."""

    def on_verdict(self, target: Target, verdict: Verdict) -> None:
        """The drill has its verdict and the target still lives. The monitor has stopped, so a listener may
        restart the container (which moves its published port)."""

    def on_result(self, result: Result) -> None:
        """The drill is over and its target gone: RESULT is everything it measured (tracing sends it on)."""


class _Observer(DrillListener):
    def __init__(self, callback: Callable[[Event, float], None]) -> None:
        self.callback = callback

    def on_event(self, event: Event, offset: float) -> None:
        self.callback(event, offset)


def observing(callback: Callable[[Event, float], None]) -> DrillListener:
    """A listener that only wants the events (a progress line per event)."""
    return _Observer(callback)


class Listeners:
    """The drill's side: tells every listener, each in isolation."""

    def __init__(self, listeners: Iterable[DrillListener] = ()) -> None:
        self._listeners = tuple(listeners)
        self.failures: list[str] = []  # one line per listener call that raised

    def event(self, event: Event, offset: float) -> None:
        for listener in self._listeners:
            self._isolated(listener, "on_event", event, offset)

    def verdict(self, target: Target, verdict: Verdict) -> None:
        for listener in self._listeners:
            self._isolated(listener, "on_verdict", target, verdict)

    def result(self, result: Result) -> None:
        for listener in self._listeners:
            self._isolated(listener, "on_result", result)

    def _isolated(self, listener: DrillListener, what: str, *args: object) -> None:
        try:
            getattr(listener, what)(*args)
        except Exception as exc:
            line = f"{type(listener).__name__}.{what} failed: {type(exc).__name__}: {exc}"
            self.failures.append(line)
            log.warning("drill listener %s", line, exc_info=log.isEnabledFor(logging.DEBUG))
