"""The drill's phases with a fake target: no Docker, well under a second.

The fake serves the facts captured from real targets (tests/data) to the
doctor, answers the probe as a healthy or broken server would, and lists its
processes; the drill gets it from a TargetSource, as a catalogue run gets warm
targets. What is asserted is the drill's own logic: phases in order, the
blind diagnosis, the verdicts, and when waits end.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness.command import ExecResult
from harness.doctor import Diagnosis
from harness.drill import Drill, DrillInterrupted, DrillOptions
from harness.footprint import Pacer
from harness.journal import journal
from harness.listeners import DrillListener
from harness.outcome import Verdict
from harness.probe import DEFAULT_CHECKS, Monitor, Outcome, Sample
from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import State
from harness.timeline import PHASES, Event, EventKind

DATA = Path(__file__).parent / "data"
FAST = DrillOptions(interval=0.01, settle=0.1, quiet=0.05, recover_timeout=2.0, detect_timeout=2.0)


def _captured(name: str) -> tuple[str, str]:
    """The two round trips the doctor made on a real target in that state."""
    text = (DATA / f"facts-{name}.txt").read_text()
    first, marker, inside = text.partition("\n@@harness-inside ")
    return first, "\n" + marker.strip("\n") + " " + inside


class FakeProbe:
    def __init__(self, target: FakeTarget) -> None:
        self.target, self.url, self.tls_url, self.timeout, self.checks = target, target.url, "", 1.0, DEFAULT_CHECKS

    def sample(self) -> Sample:
        if self.target.broken:
            return Sample(time.monotonic(), Outcome.REFUSED, None, 0.001, "connection refused")
        return Sample(time.monotonic(), Outcome.OK, 200, 0.001, "HTTP 200, served by nginx")

    def clone(self) -> FakeProbe:
        return FakeProbe(self.target)

    def cycle(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


class FakeTarget:
    name, url, load_check, site = "fake-target", "http://fake-target/", None, None
    checks, pacer = DEFAULT_CHECKS, Pacer(None)

    def __init__(self) -> None:
        self.state = State.NEW
        self.broken = False
        self.round_trips: list[tuple[float, str]] = []
        self.commands: list[list[str]] = []
        self.extra_process = False  # what a repair that restarts something leaves running

    def start(self) -> FakeTarget:
        self.state = State.RUNNING
        return self

    def stop(self) -> None:
        self.state = State.CLOSED

    def require_managed(self) -> None:
        pass

    def probe(self, timeout: float | None = None) -> FakeProbe:
        return FakeProbe(self)

    def processes(self) -> frozenset[tuple[int, str]]:
        running = {(1, "tini"), (30, "nginx")}
        return frozenset(running | ({(99, "nginx")} if self.extra_process else set()))

    def exec(self, argv: list[str], **_: Any) -> ExecResult:
        self.round_trips.append((time.monotonic(), argv[0]))
        self.commands.append(argv)
        first, inside = _captured("missing-symlink" if self.broken else "healthy")
        script = argv[2] if len(argv) > 2 and argv[:2] == ["sh", "-c"] else ""
        out = first if "@@harness-section" in script else inside if "@@harness-inside" in script else ""
        return ExecResult(tuple(argv), 0, out, "", 0.001)


class Source:
    def __init__(self, target: FakeTarget) -> None:
        self.target = target
        self.given_back = False

    def take(self, scenario: Scenario, image: str) -> Any:
        return self.target

    def give_back(self, target: Any) -> None:
        self.given_back = True
        target.stop()


class LinkGone(Scenario):
    name = "link-gone"
    summary = "the sites-enabled link is deleted"
    symptom = Symptom.REFUSED
    cause = "site-not-enabled"

    def inject(self, target: Any) -> None:
        target.broken = True

    def repair(self, target: Any) -> None:
        target.broken = False


class FakeSession:
    """What a Drill asks of its session when the target comes from elsewhere."""

    run_id, site = "fake-run", None

    class settings:
        probe_interval, probe_timeout = 0.01, 1.0


def _drill(
    target: FakeTarget,
    repair: Any,
    scenario: Scenario | None = None,
    wiring: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[Drill, Source]:
    """A drill of SCENARIO (default: the link goes) on TARGET; WIRING: listeners, a monitor factory."""
    source = Source(target)
    opts = DrillOptions(**{**FAST.__dict__, **options})
    drill = Drill(
        FakeSession(),  # type: ignore[arg-type]
        scenario or LinkGone(),
        options=opts,
        repair=repair,
        image="fake:1",
        targets=source,
        **(wiring or {}),
    )
    return drill, source


def _relink(target: Any, diagnosis: Diagnosis) -> list[ExecResult]:
    assert diagnosis.cause == "site-not-enabled"  # blind: the repair sees only what the doctor named
    target.broken = False
    return [ExecResult(("ln", "-s", "…"), 0, "", "", 0.001)]


def test_a_drill_runs_its_phases_in_order_and_diagnoses_blind() -> None:
    target = FakeTarget()
    drill, source = _drill(target, _relink)
    result = drill.run()
    assert result.verdict is Verdict.RECOVERED and result.passed, result.reason
    assert result.baseline is not None and result.baseline.healthy
    assert result.diagnosis is not None and result.diagnosis.cause == "site-not-enabled"
    assert result.diagnosis_after is not None and result.diagnosis_after.healthy
    assert result.symptom_seen is Symptom.REFUSED
    top = [p.name for p in result.timeline.phases if "/" not in p.name]
    assert top == list(PHASES)
    assert result.time_to_detect is not None and result.time_to_recover is not None
    assert 0 <= result.time_to_detect < result.time_to_recover
    kinds = [e.kind for e in result.timeline.events]
    assert kinds.index(EventKind.INJECTED) < kinds.index(EventKind.DETECTED) < kinds.index(EventKind.RECOVERED)
    assert source.given_back and target.state is State.CLOSED
    assert journal(result)["status"] == "completed"


def test_a_repair_that_leaves_nothing_new_running_ends_the_wait_early() -> None:
    def forgetful(target: Any, diagnosis: Diagnosis) -> list[ExecResult]:
        return [ExecResult(("true",), 0, "", "", 0.001)]  # changes nothing, starts nothing

    drill, _ = _drill(FakeTarget(), forgetful, recover_timeout=30.0)
    started = time.monotonic()
    result = drill.run()
    assert result.verdict is Verdict.NOT_RECOVERED
    assert "nothing runs that did not run before it" in result.reason
    assert time.monotonic() - started < 5  # not the 30 s recovery timeout


def test_a_repair_that_starts_something_is_given_its_time() -> None:
    def restarts(target: Any, diagnosis: Diagnosis) -> list[ExecResult]:
        target.extra_process = True  # a restarted service, still coming up
        return [ExecResult(("service", "nginx", "restart"), 0, "", "", 0.001)]

    drill, _ = _drill(FakeTarget(), restarts, recover_timeout=0.2)
    result = drill.run()
    assert result.verdict is Verdict.NOT_RECOVERED
    assert "within 0.2 s of the repair" in result.reason


def test_a_fault_nothing_sees_on_harness_own_server_is_withstood_and_fails_as_a_broken_scenario() -> None:
    class Harmless(LinkGone):
        def inject(self, target: Any) -> None:
            pass

    drill, source = _drill(FakeTarget(), _relink, Harmless())
    result = drill.run()
    assert result.verdict is Verdict.WITHSTOOD and result.on_own_server
    assert "the doctor finds nginx healthy" in result.reason
    assert not result.passed and "the scenario is broken" in result.problems()[0]
    # No page took a burst here (FakeTarget has none): said so, never "a burst of 0 requests was served".
    (tested,) = [e.detail for e in result.timeline.events if e.kind is EventKind.LOAD_TESTED]
    assert "burst of 0" not in result.reason + tested and "no burst" in tested
    assert source.given_back


def test_a_drill_cancelled_before_it_starts_takes_no_target() -> None:
    target = FakeTarget()
    drill, source = _drill(target, _relink)
    drill.cancel.set()
    with pytest.raises(DrillInterrupted) as caught:
        drill.run()
    assert caught.value.result.verdict is Verdict.INTERRUPTED
    assert target.state is State.NEW and not source.given_back


def test_a_drill_cancelled_after_the_injection_repairs_nothing_and_gives_its_target_back() -> None:
    repaired: list[str] = []

    class CancelledMeanwhile(LinkGone):
        def inject(self, target: Any) -> None:
            target.broken = True
            drill.cancel.set()  # Ctrl-C while the fault goes in

    drill, source = _drill(FakeTarget(), lambda t, d: repaired.append(d.cause) or [], CancelledMeanwhile())
    with pytest.raises(DrillInterrupted) as caught:
        drill.run()
    assert caught.value.result.verdict is Verdict.INTERRUPTED
    assert repaired == [] and source.given_back


class Listener(DrillListener):
    def __init__(self, fails: bool = False) -> None:
        self.fails = fails
        self.kinds: list[EventKind] = []
        self.verdicts: list[tuple[Verdict, State, int]] = []

    def on_event(self, event: Event, offset: float) -> None:
        self.kinds.append(event.kind)
        if self.fails:
            raise RuntimeError("cannot print")

    def on_verdict(self, target: Any, verdict: Verdict) -> None:
        samples = len(monitors[-1].samples)
        time.sleep(0.05)  # the monitor has stopped: no sample arrives meanwhile
        self.verdicts.append((verdict, target.state, len(monitors[-1].samples) - samples))
        if self.fails:
            raise RuntimeError("cannot check")


monitors: list[Monitor] = []


def _watching(probe: Any, interval: float) -> Monitor:
    monitors.append(Monitor(probe, interval))
    return monitors[-1]


def test_listeners_hear_every_event_and_get_the_live_target_with_the_verdict_even_beside_a_failing_one() -> None:
    broken, heard = Listener(fails=True), Listener()
    drill, source = _drill(FakeTarget(), _relink, wiring={"listeners": [broken, heard], "monitor": _watching})
    result = drill.run()
    assert result.verdict is Verdict.RECOVERED, result.reason  # a listener's failure is not the drill's
    assert heard.kinds == [e.kind for e in drill.recorder.events] == broken.kinds
    assert heard.verdicts == [(Verdict.RECOVERED, State.RUNNING, 0)]  # before teardown, monitor stopped
    assert broken.verdicts == heard.verdicts
    assert any("on_verdict failed: RuntimeError: cannot check" in line for line in drill.listeners.failures)
    assert monitors and monitors[-1].samples == list(result.timeline.samples)  # the injected monitor was used
    assert source.given_back
