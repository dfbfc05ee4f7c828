"""The one wait loop."""

from __future__ import annotations

import itertools
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from harness.drill import DrillOptions
from harness.fix_checks import QUIET, FixContext, VerifyOptions
from harness.poll import poll_until
from harness.probe import Outcome, Sample


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


# -- the waits that go through it ---------------------------------------------------------------------------


class _Clock:
    """A clock that moves only when someone sleeps, so a wait's deadline is reached without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    import harness.fix_checks
    import harness.poll

    fake = _Clock()
    for module in (harness.poll, harness.fix_checks):
        monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep, time=fake.now))
    return fake


def _settling(monkeypatch: pytest.MonkeyPatch, running: frozenset[tuple[int, str]]) -> tuple[FixContext, Any]:
    from harness import fix_checks

    failing = Sample(0.0, Outcome.REFUSED, None, 0.0, "connection refused")
    probe = SimpleNamespace(sample=lambda: failing, close=lambda: None)
    target = SimpleNamespace(name="harness-x", probe=lambda timeout: probe, processes=lambda: running)
    monkeypatch.setattr(fix_checks, "_examine", lambda target, served, sample: "the doctor's view")
    session = SimpleNamespace(settings=SimpleNamespace(probe_timeout=1.0))
    context = FixContext(session, None, None, VerifyOptions(), "image")  # type: ignore[arg-type]
    return context, target


def test_a_fix_that_leaves_nothing_new_running_is_given_up_on_after_the_drills_quiet_time(
    monkeypatch: pytest.MonkeyPatch, clock: _Clock, caplog: pytest.LogCaptureFixture
) -> None:
    before = frozenset({(1, "nginx: master")})
    context, target = _settling(monkeypatch, before)
    started = clock.now
    with caplog.at_level(logging.DEBUG, logger="harness.poll"):
        looked = context.settle(target, timeout=60.0, before=before)
    assert not looked.served and looked.sample.outcome is Outcome.REFUSED
    assert DrillOptions().quiet == QUIET  # one rule, one constant: the drill's
    assert QUIET <= clock.now - started < QUIET + 1.0
    assert [r.getMessage() for r in caplog.records if r.name == "harness.poll"] == [
        f"waited {clock.now - started:.2f} s for port 80 of harness-x to serve {VerifyOptions().streak} times in a row"
    ]


def test_a_settle_that_reaches_its_deadline_says_what_it_waited_for(
    monkeypatch: pytest.MonkeyPatch, clock: _Clock, caplog: pytest.LogCaptureFixture
) -> None:
    context, target = _settling(monkeypatch, frozenset({(1, "nginx: master")}))
    with caplog.at_level(logging.DEBUG, logger="harness.poll"):
        looked = context.settle(target, timeout=5.0)  # nothing known of what ran before: wait to the end
    assert not looked.served
    said = [r.getMessage() for r in caplog.records if r.name == "harness.poll"]
    assert len(said) == 1
    assert said[0].startswith(
        f"gave up waiting for port 80 of harness-x to serve {VerifyOptions().streak} times in a row after 5."
    )


def test_a_target_watched_for_going_away_is_looked_at_until_it_stops(
    monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    from harness.errors import TargetGone
    from harness.target import Target

    statuses = iter(["running", "running", "exited"])
    container = SimpleNamespace(name="harness-x", status="running", logs=lambda tail: b"bye")
    container.reload = lambda: setattr(container, "status", next(statuses))
    monkeypatch.setattr(Target, "_wrapped", property(lambda self: container))
    target = Target.__new__(Target)  # a container only in name: the engine is never asked
    with pytest.raises(TargetGone, match=r"stopped \(exited\) outside harness"):
        target._ensure_alive(watch=5.0)
    statuses = iter(["running"] * 100)
    target._ensure_alive(watch=1.0)  # still running when the watch ends: nothing to say
