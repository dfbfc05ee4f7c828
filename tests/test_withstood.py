"""The withstood verdict: when a drill may say the steady state held under the fault, and what that counts as.

Fake targets (tests/test_drill_phases.py) for the drill's own logic, no Docker; the real container drills are in
tests/test_results.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness import drill as drill_module
from harness.cli import PASSED, VERDICT_FAILED
from harness.cli.drill import exit_code
from harness.drill import Drill, DrillOptions
from harness.journal import journal
from harness.load import LoadReport
from harness.outcome import Verdict
from harness.probe import Outcome, Sample
from harness.report import Accuracy, results_to_dict
from harness.symptom import Symptom
from harness.timeline import EventKind
from tests.helpers import validated
from tests.test_drill_phases import FAST, FakeProbe, FakeSession, FakeTarget, LinkGone, Source, _relink


class SiteSession(FakeSession):
    """A session drilling a team's tree (--site), as far as the drill asks."""

    class site:
        folder = Path("/srv/team-site")
        digest = "0123456789ab"  # the history keys a site's runs by its tree's digest


class Harmless(LinkGone):
    summary = "a change the site shrugs off"

    def inject(self, target: Any) -> None:
        pass


class SlowToShow(LinkGone):
    """A fault that takes a while to show to clients (workers recycled, a cache expiring)."""

    def inject(self, target: Any) -> None:
        threading.Timer(0.6, lambda: setattr(target, "broken", True)).start()


def _site_drill(target: FakeTarget, scenario: LinkGone, **options: Any) -> Drill:
    opts = DrillOptions(**{**FAST.__dict__, **options})
    session = SiteSession()
    return Drill(session, scenario, options=opts, repair=_relink, image="fake:1", targets=Source(target))  # type: ignore[arg-type]


def test_a_fault_a_site_withstands_is_withstood_and_passes() -> None:
    started = time.monotonic()
    result = _site_drill(FakeTarget(), Harmless(), detect_timeout=1.0).run()
    took = time.monotonic() - started
    assert result.verdict is Verdict.WITHSTOOD, result.reason
    assert result.passed and not result.on_own_server and result.problems() == []
    assert exit_code(result) == PASSED
    # Not concluded before the whole detection window was watched.
    assert took >= 1.0
    assert result.diagnosis is not None and result.diagnosis.healthy
    assert result.timeline.at(EventKind.WITHSTOOD) is not None
    assert result.timeline.at(EventKind.DETECTED) is None and result.time_to_detect is None
    assert "the steady state held under the fault" in result.reason


def test_a_withstood_on_harness_own_server_fails_the_run_as_a_failed_verdict() -> None:
    drill = Drill(FakeSession(), Harmless(), options=FAST, repair=_relink, image="fake:1", targets=Source(FakeTarget()))  # type: ignore[arg-type]
    result = drill.run()
    assert result.verdict is Verdict.WITHSTOOD and result.on_own_server
    assert not result.passed and exit_code(result) == VERDICT_FAILED
    document = results_to_dict([result])
    assert document["passed"] is False
    assert document["accuracy"]["failed"] == [{"scenario": "link-gone", "verdict": "withstood"}]


def test_a_fault_slow_to_show_is_detected_late_and_repaired_not_withstood() -> None:
    # Slower than the settle (0.1 s) and the first look of the burst and the doctor, inside the window.
    target = FakeTarget()
    result = _site_drill(target, SlowToShow(), detect_timeout=3.0).run()
    assert result.verdict is Verdict.RECOVERED, result.reason
    assert result.time_to_detect is not None and result.time_to_detect >= 0.5
    assert result.timeline.at(EventKind.WITHSTOOD) is None


class Flickering(FakeProbe):
    """Every fourth sample fails: never three in a row, never all ok."""

    count = 0

    def sample(self) -> Sample:
        Flickering.count += 1
        if getattr(self.target, "flickers", False) and Flickering.count % 4 == 0:
            return Sample(time.monotonic(), Outcome.TIMEOUT, None, 0.001, "no answer before the probe timeout")
        return Sample(time.monotonic(), Outcome.OK, 200, 0.001, "HTTP 200, served by nginx")

    def clone(self) -> Flickering:
        return Flickering(self.target)


class FlickeringTarget(FakeTarget):
    def probe(self, timeout: float | None = None) -> Flickering:
        return Flickering(self)


class Flickers(LinkGone):
    """Clients see it now and then; the doctor sees nothing inside."""

    def inject(self, target: Any) -> None:
        target.flickers = True


def test_a_flickering_fault_is_never_withstood() -> None:
    result = _site_drill(FlickeringTarget(), Flickers(), detect_timeout=1.0).run()
    assert result.verdict is Verdict.NOT_DETECTED, result.reason
    assert "flickers" in result.reason and not result.passed


class UnderLoad(Harmless):
    symptom = Symptom.FAILS_UNDER_LOAD


def test_a_load_scenario_without_a_burst_is_not_withstood() -> None:
    # The fake target has no page a burst can be sent to (as a TLS-only site): load cannot be ruled out.
    result = _site_drill(FakeTarget(), UnderLoad(), detect_timeout=0.5).run()
    assert result.verdict is Verdict.NOT_DETECTED, result.reason
    assert "neither detected nor ruled out" in result.reason


def test_withstood_is_counted_apart_and_journalled_as_not_deviated() -> None:
    withstood = _site_drill(FakeTarget(), Harmless(), detect_timeout=0.3).run()
    recovered = _site_drill(FakeTarget(), LinkGone()).run()
    assert recovered.verdict is Verdict.RECOVERED, recovered.reason
    accuracy = Accuracy.of([recovered, withstood, withstood])
    assert (accuracy.passed, accuracy.recovered, accuracy.withstood, accuracy.diagnosed) == (3, 1, 2, 1)
    assert accuracy.line().startswith("3/3 passed (1 recovered, 2 withstood); 1/1 detected faults")
    entry = journal(withstood)
    assert (entry["status"], entry["deviated"]) == ("completed", False)
    assert entry["steady_states"]["after"]["steady_state_met"] is True
    assert entry["experiment"]["extensions"][0]["verdict"] == "withstood"
    import json

    validated(json.dumps(results_to_dict([withstood])), "drill")


class Straining(FakeProbe):
    """Times out while harness's own burst runs (a loaded machine), answers otherwise."""

    def sample(self) -> Sample:
        if getattr(self.target, "bursting", False):
            return Sample(time.monotonic(), Outcome.TIMEOUT, None, 0.001, "no answer before the probe timeout")
        return Sample(time.monotonic(), Outcome.OK, 200, 0.001, "HTTP 200, served by nginx")

    def clone(self) -> Straining:
        return Straining(self.target)


class StrainedTarget(FakeTarget):
    def probe(self, timeout: float | None = None) -> Straining:
        return Straining(self)


def test_samples_failing_during_harness_own_burst_are_the_bursts_to_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    def burst(target: Any, requests: int, concurrency: int) -> LoadReport:
        target.bursting = True
        time.sleep(0.3)  # a few samples time out meanwhile, more than a streak
        target.bursting = False
        return LoadReport(requests, concurrency, {Outcome.OK: requests}, 0.3)

    monkeypatch.setattr(drill_module, "load_burst", burst)
    result = _site_drill(StrainedTarget(), UnderLoad(), detect_timeout=0.5).run()
    # The probe pauses while harness's own burst runs (Monitor.paused), so no sample is strained by it at all;
    # one still in flight when a burst starts would be excluded by the burst's window.
    timeouts = [s for s in result.timeline.samples if s.outcome is Outcome.TIMEOUT]
    assert timeouts == []
    assert result.verdict is Verdict.WITHSTOOD, result.reason
    assert result.reason.count("a burst of 2000 requests at 100 clients was served") == 2  # before and after the hold


def test_a_withstood_drill_reads_as_held_not_as_a_wrong_diagnosis() -> None:
    from rich.console import Console

    from harness.report import render_result, render_results

    result = _site_drill(FakeTarget(), Harmless(), detect_timeout=0.3).run()
    console = Console(record=True, width=160)
    render_result(result, console)
    render_results([result], console)
    text = console.export_text()
    assert "verdict: WITHSTOOD" in text and "✗" not in text
    assert "1/1 passed (1 withstood)" in text


class OnceTimingOut(FakeProbe):
    """One sample times out after the injection (a starved machine), every other is answered."""

    def sample(self) -> Sample:
        if getattr(self.target, "flickers", False) and not getattr(self.target, "timed_out", False):
            self.target.timed_out = True  # type: ignore[attr-defined]
            return Sample(time.monotonic(), Outcome.TIMEOUT, None, 0.001, "no answer before the probe timeout")
        return Sample(time.monotonic(), Outcome.OK, 200, 0.001, "HTTP 200, served by nginx")

    def clone(self) -> OnceTimingOut:
        return OnceTimingOut(self.target)


class OnceTarget(FakeTarget):
    def probe(self, timeout: float | None = None) -> OnceTimingOut:
        return OnceTimingOut(self)


def test_a_lone_failure_that_does_not_recur_in_a_second_window_is_withstood_and_said() -> None:
    started = time.monotonic()
    result = _site_drill(OnceTarget(), Flickers(), detect_timeout=0.5).run()
    assert result.verdict is Verdict.WITHSTOOD, result.reason
    assert (
        "1 lone failure (timeout, no answer before the probe timeout) did not recur in a further 0.5 s" in result.reason
    )
    assert time.monotonic() - started >= 1.0  # the window, then the second one
    assert result.timeline.phase("detect/hold-again") is not None
