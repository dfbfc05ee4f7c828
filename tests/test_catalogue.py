"""Every scenario in the catalogue, for real: the fault takes effect, the doctor names it blind,
the remedy chosen from that diagnosis restores port 80, and both times are measured.
Each scenario's reference repair is also proven on its own, independently of the remedy."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.catalogue import load_catalogue
from harness.causes import registry
from harness.doctor import HEALTHY, examine
from harness.load import burst
from harness.outcome import DetectedBy, Result, Verdict
from harness.probe import Outcome, Probe, Sample
from harness.scenario import Scenario
from harness.session import Session
from harness.symptom import Symptom
from harness.target import Target
from harness.timeline import EventKind

NAMES = load_catalogue().names()
CATALOGUE_PAGE = Path(__file__).resolve().parent.parent / "docs" / "catalogue.md"
# The probe alone must not see these; detection has to escalate.
ESCALATED = {Symptom.FAILS_UNDER_LOAD: DetectedBy.LOAD, Symptom.LATENT: DetectedBy.DOCTOR}


def test_every_scenario_declares_its_story_a_known_cause_with_a_remedy_and_a_reference_repair() -> None:
    units = registry()
    for name in NAMES:
        scenario = load_catalogue().scenarios[name]
        assert scenario.summary.strip() and isinstance(scenario.symptom, Symptom), name
        unit = units.get(scenario.cause)
        assert unit is not None, f"{name}: the doctor knows no cause {scenario.cause!r}"
        assert unit.remedy is not None, f"{name}: {scenario.cause} has no remedy, so a drill cannot repair it"
        assert scenario.repair is not Scenario.repair, f"{name}: no reference repair"


def _documented() -> dict[str, tuple[str, str]]:
    """docs/catalogue.md's table: scenario -> (symptom, cause)."""
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|[^|]*\| ([a-z0-9-]+) \| `([a-z0-9-]+)`", CATALOGUE_PAGE.read_text(), re.M)
    return {name: (symptom, cause) for name, symptom, cause in rows}


def test_the_documented_catalogue_is_the_one_harness_lists() -> None:
    scenarios = load_catalogue().scenarios
    built_in = {name: cls for name, cls in scenarios.items() if cls.__module__.startswith("scenarios.")}
    assert _documented() == {name: (cls.symptom.value, cls.cause) for name, cls in built_in.items()}


def test_scenario_is_detected_diagnosed_and_repaired(
    harness_each_scenario: Scenario, harness_drill: Callable[..., Result]
) -> None:
    result = harness_drill(harness_each_scenario)
    assert not result.false_alarm, f"the doctor flagged the unbroken target: {result.baseline}"
    # The fault took effect: the declared symptom itself was observed, not just "something failed".
    assert result.symptom_seen is result.declared_symptom, result.problems()
    expected_detector = ESCALATED.get(result.declared_symptom, DetectedBy.PROBE)
    assert result.detected_by is expected_detector
    # The diagnosis, made blind, names the declared cause.
    assert result.diagnosis is not None and result.diagnosis.cause == result.declared_cause, result.problems()
    # Port 80 serves the expected page again, and the doctor agrees.
    recovered = result.timeline.at(EventKind.RECOVERED)
    assert recovered is not None, result.reason
    after = [s for s in result.timeline.samples if s.t >= recovered.t]
    streak = after[:3]
    assert len(streak) == 3 and all(s.outcome is Outcome.OK for s in streak), _samples(streak)
    # Samples answered while harness's own burst ran measure harness's load, which the burst judges (below).
    failed = [s for s in after if s.outcome is not Outcome.OK and not _beside_own_burst(result, s)]
    assert not failed, f"port 80 failed again after the recovery: {_samples(failed)}"
    if result.declared_symptom is Symptom.FAILS_UNDER_LOAD:
        # What a user reads for a fault only load shows: the burst that found it, and the one that proved the repair.
        found, proved = result.load_reports[0], result.load_reports[-1]
        assert len(result.load_reports) >= 2 and found.degraded and not proved.degraded, [
            r.describe() for r in result.load_reports
        ]
        detected = result.timeline.at(EventKind.DETECTED)
        assert detected is not None and detected.detail == f"by load: {found.describe()}"
        assert result.diagnosis.evidence, "the doctor named the cause without evidence"
    assert result.diagnosis_after is not None and result.diagnosis_after.cause == HEALTHY
    # Both times were recorded.
    assert result.time_to_detect is not None and result.time_to_recover is not None
    assert 0 <= result.time_to_detect < result.time_to_recover < result.duration
    assert result.verdict is Verdict.RECOVERED and result.passed


def _beside_own_burst(result: Result, sample: Sample) -> bool:
    """SAMPLE was in flight while one of harness's own after-repair bursts ran."""
    load = result.timeline.phase("verify/load")
    return load is not None and sample.t <= load.end and sample.t + sample.latency >= load.start


def _samples(samples: list[Sample]) -> list[str]:
    return [f"{s.outcome.value} {s.path} {s.detail} (latency {s.latency:.2f} s)" for s in samples]


def _await_symptom(target: Target, symptom: Symptom, within: float = 10.0) -> None:
    """Wait until a client sees SYMPTOM (the fault has taken effect), or fail."""
    if symptom is Symptom.LATENT:
        assert Probe(target.url).sample().outcome is Outcome.OK
        assert not examine(target).healthy
        return
    if symptom is Symptom.FAILS_UNDER_LOAD:
        assert Probe(target.url).sample().outcome is Outcome.OK
        report = burst(target.url)
        assert report.degraded, report.describe()
        return
    probe = Probe(target.url)
    deadline = time.monotonic() + within
    seen = []
    try:
        while time.monotonic() < deadline:
            sample = probe.sample()
            seen.append(sample.outcome.value)
            if sample.outcome.value == symptom.value:
                return
            time.sleep(0.05)
    finally:
        probe.close()
    pytest.fail(f"the fault never showed as {symptom.value}; the probe saw {sorted(set(seen))}")


def test_reference_repair_restores_service(harness_each_scenario: Scenario, harness_session: Session) -> None:
    scenario = harness_each_scenario
    with harness_session.new_target(capabilities=scenario.capabilities) as target:
        scenario.inject(target)
        _await_symptom(target, scenario.symptom)
        scenario.repair(target)
        target.wait_until_serving(15)
        diagnosis = examine(target)
        assert diagnosis.cause == HEALTHY, diagnosis.summary
        if scenario.symptom is Symptom.FAILS_UNDER_LOAD:
            report = burst(target.url)
            assert not report.degraded, report.describe()


def test_a_healthy_target_is_healthy_to_the_doctor_and_under_load(harness_target: Target) -> None:
    diagnosis = examine(harness_target)
    assert diagnosis.cause == HEALTHY, diagnosis.summary
    assert diagnosis.ruled_out == ()
    report = burst(harness_target.url)
    assert report.failed == 0, report.describe()
