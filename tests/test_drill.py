"""The original outage, end to end, on a real target (real Docker, real nginx)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from rich.console import Console

from harness.doctor import HEALTHY, examine
from harness.drill import Drill, DrillOptions
from harness.outcome import Result, Verdict
from harness.probe import Outcome, Probe
from harness.report import Accuracy, render_results, results_to_dict
from harness.scenario import Scenario
from harness.session import Session
from harness.symptom import Symptom
from harness.target import Target
from harness.timeline import EventKind


@pytest.mark.scenario("missing-symlink")
def test_missing_symlink_drill_recovers(harness_drill: Callable[..., Result], harness_scenario: Scenario) -> None:
    result = harness_drill(harness_scenario)
    timeline = result.timeline
    injected = timeline.at(EventKind.INJECTED)
    detected = timeline.at(EventKind.DETECTED)
    recovered = timeline.at(EventKind.RECOVERED)
    assert injected and detected and recovered, result.problems()

    before = [s for s in timeline.samples if s.t < injected.t]
    assert len(before) >= 3 and all(s.outcome is Outcome.OK for s in before[-3:]), "no steady state before injection"

    assert result.symptom_seen is Symptom.REFUSED
    broken = [s for s in timeline.samples if detected.t <= s.t < recovered.t]
    assert broken and all(s.outcome is Outcome.REFUSED for s in broken[:3])

    assert result.diagnosis is not None and result.diagnosis.cause == "site-not-enabled"

    after = [s for s in timeline.samples if s.t >= recovered.t]
    assert len(after) >= 3 and all(s.outcome is Outcome.OK for s in after)
    assert result.diagnosis_after is not None and result.diagnosis_after.cause == HEALTHY

    assert result.time_to_detect is not None and result.time_to_recover is not None
    assert 0 < result.time_to_detect < result.time_to_recover < result.duration
    assert result.verdict is Verdict.RECOVERED and result.passed


@pytest.mark.scenario("missing-symlink")
def test_reference_repair_restores_service(harness_target: Target, harness_scenario: Scenario) -> None:
    harness_scenario.inject(harness_target)
    assert Probe(harness_target.url).sample().outcome is Outcome.REFUSED
    harness_scenario.repair(harness_target)
    harness_target.wait_until_serving(10)
    assert examine(harness_target).cause == HEALTHY


def test_a_repair_that_does_nothing_is_not_recovered(harness_drill: Callable[..., Result]) -> None:
    result = harness_drill("missing-symlink", repair=lambda target, diagnosis: [], recover_timeout=1.0)
    assert result.verdict is Verdict.NOT_RECOVERED
    assert not result.passed
    assert result.time_to_recover is None


class _CrashingScenario(Scenario):
    name = "crashing"
    summary = "a plugin whose inject has a bug"
    symptom = Symptom.REFUSED
    cause = "never-reached"

    def inject(self, target: Target) -> None:
        raise ZeroDivisionError("plugin bug")

    def repair(self, target: Target) -> None:
        pass


def test_a_crashing_plugin_is_an_error_verdict_and_the_target_is_removed(
    harness_drill: Callable[..., Result], harness_session: Session
) -> None:
    result = harness_drill(_CrashingScenario())
    assert result.verdict is Verdict.ERROR
    assert result.reason == "inject for scenario 'crashing' crashed: ZeroDivisionError: plugin bug"
    assert result.timeline.at(EventKind.TORN_DOWN) is not None
    assert harness_session.leftovers() == []


def test_catalogue_report_counts_right_causes_and_false_alarms(harness_drill: Callable[..., Result]) -> None:
    good = harness_drill("nginx-stopped")
    assert good.passed and good.baseline is not None and good.baseline.healthy
    wrong = replace(good, scenario="pretend", declared_cause="site-not-enabled")
    assert good.diagnosis is not None
    alarmed = replace(good, scenario="alarmed", baseline=replace(good.diagnosis))  # a fault "seen" before injection

    accuracy = Accuracy.of([good, wrong, alarmed])
    assert (accuracy.correct, accuracy.false_alarms, accuracy.healthy_targets) == (2, 1, 3)
    assert accuracy.line() == (
        "2/3 passed (3 recovered); 1 failed: pretend (recovered); "
        "2/3 detected faults diagnosed correctly, 1 false alarms on 3 healthy targets"
    )

    console = Console(record=True, width=140)
    render_results([good, wrong], console)
    text = console.export_text()
    row = next(line for line in text.splitlines() if "nginx-stopped" in line)
    assert "refused" in row and "nginx-not-running" in row and "✓" in row and "recovered" in row
    assert "1/2 passed (2 recovered); 1 failed: pretend (recovered); 1/2 detected faults diagnosed correctly" in text
    assert "✗ pretend: diagnosis was nginx-not-running, the scenario's cause is site-not-enabled" in text

    document = results_to_dict([good])
    assert document["accuracy"]["diagnosed_correctly"] == 1
    assert document["results"][0]["observed"]["detected_by"] == "probe"


class _WrongUpstream(Scenario):
    """/app/ proxied to a port where nothing listens: the catalogue does not inject this."""

    name = "wrong-upstream-port"
    summary = "proxy /app/ to 127.0.0.1:9001"
    symptom = Symptom.HTTP_5XX
    cause = "upstream-unreachable"

    def inject(self, target: Target) -> None:
        site = "/etc/nginx/sites-available/default"
        target.exec(["sed", "-i", "s#127.0.0.1:9000#127.0.0.1:9001#", site], check=True)
        target.exec(["nginx", "-s", "reload"], check=True)

    def repair(self, target: Target) -> None:
        raise NotImplementedError


@pytest.mark.docker
def test_a_drill_never_calls_a_measured_outage_healthy_and_never_waits_for_nothing(
    harness_session: Session,
) -> None:
    options = DrillOptions(recover_timeout=60.0)
    result = Drill(harness_session, _WrongUpstream(), options=options).run()
    assert result.symptom_seen is Symptom.HTTP_5XX
    assert result.diagnosis is not None and result.diagnosis.cause != HEALTHY
    if result.verdict is not Verdict.RECOVERED:
        # No repair to run: the drill ends at once with the advice, not after the 60 s recovery timeout.
        assert result.duration < 30, result.reason
        repaired = result.timeline.at(EventKind.RECOVERED)
        assert repaired is None


# -- wording ------------------------------------------------------------------------------------------


@pytest.mark.docker
def test_a_repair_that_exits_non_zero_says_it_failed(harness_drill: Callable[..., Result]) -> None:
    result = harness_drill(
        "missing-symlink", repair=lambda target, diagnosis: [target.exec(["false"])], recover_timeout=1.0
    )
    repaired = result.timeline.at(EventKind.REPAIRED)
    assert repaired is not None and repaired.detail.startswith("failed: false exited 1")
