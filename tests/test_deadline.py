"""The whole-drill deadline (--timeout): raised in the main thread, even where an event loop swallows it."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.errors import DeadlineExceeded
from harness.signals import deadline


def _expired() -> DeadlineExceeded:
    return DeadlineExceeded("out of time")


def test_a_deadline_swallowed_once_is_raised_again_until_it_lands() -> None:
    swallowed = 0
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded), deadline(0.1, _expired):
        while time.monotonic() - started < 5:
            try:
                time.sleep(0.01)
            except DeadlineExceeded:
                swallowed += 1  # what an asyncio callback does with it
                if swallowed > 1:
                    raise
    # Raised again after it was swallowed, and only then: a count, not a time, so a loaded machine cannot fail it.
    assert swallowed == 2


def test_a_deadline_lost_inside_an_event_loop_still_ends_the_block() -> None:
    async def busy() -> None:
        loop = asyncio.get_running_loop()
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            # Callbacks run by the loop: an exception raised inside one is logged and dropped.
            loop.call_soon(time.sleep, 0.005)
            await asyncio.sleep(0.005)

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded), deadline(0.05, _expired):
        asyncio.run(busy())
    assert time.monotonic() - started < 2


def test_a_block_that_ends_in_time_is_left_alone() -> None:
    with deadline(1.0, _expired):
        time.sleep(0.01)
    time.sleep(0.05)  # no alarm left behind
