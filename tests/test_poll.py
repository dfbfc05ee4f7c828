"""The one wait loop."""

from __future__ import annotations

import itertools

import pytest

from harness.poll import poll_until


def test_it_returns_what_it_looked_for_as_soon_as_it_is_there() -> None:
    counter = itertools.count()
    assert poll_until(lambda: n if (n := next(counter)) == 3 else None, timeout=5, interval=0.001, what="3") == 3


def test_it_looks_at_least_once_and_gives_none_when_time_is_up() -> None:
    looks: list[int] = []
    assert poll_until(lambda: looks.append(1), timeout=0, interval=0.001, what="nothing") is None
    assert looks == [1]


def test_a_look_that_raises_ends_the_wait() -> None:
    def look() -> None:
        raise RuntimeError("the target is gone")

    with pytest.raises(RuntimeError, match="the target is gone"):
        poll_until(look, timeout=5, interval=0.001, what="anything")
