"""What a drill ends with: its verdict, how the fault was found, and the result every report reads.

Apart from the drill that makes them, so that its listeners, tracing and reports read results without importing
the drill's machinery (and the drill imports them, not the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from harness.command import ExecResult
from harness.doctor import Diagnosis
from harness.load import LoadReport
from harness.probe import Check
from harness.symptom import Symptom
from harness.timeline import Timeline


class Verdict(StrEnum):
    RECOVERED = "recovered"
    NOT_STEADY = "not-steady"
    NOT_DETECTED = "not-detected"
    # The steady state held under the fault: a result on a team's site, a broken scenario on harness's own server.
    WITHSTOOD = "withstood"
    NOT_RECOVERED = "not-recovered"
    ERROR = "error"
    INTERRUPTED = "interrupted"


class DetectedBy(StrEnum):
    PROBE = "probe"  # single requests failed, as monitoring sees it
    LOAD = "load"  # single requests were fine; a burst of concurrent clients failed
    DOCTOR = "doctor"  # every request was fine; only the examination from inside found the fault


@dataclass(frozen=True)
class Result:
    scenario: str
    summary: str
    declared_symptom: Symptom
    declared_cause: str
    verdict: Verdict
    reason: str
    symptom_seen: Symptom | None
    detected_by: DetectedBy | None
    baseline: Diagnosis | None  # the doctor's view of the unbroken target: anything but healthy is a false alarm
    diagnosis: Diagnosis | None
    diagnosis_after: Diagnosis | None
    repair_steps: tuple[ExecResult, ...]
    load_reports: tuple[LoadReport, ...]
    timeline: Timeline
    round_trips: tuple[tuple[float, str], ...]  # every exec or upload into the target: (monotonic start, what)
    time_to_detect: float | None
    time_to_recover: float | None
    duration: float
    image: str
    target: str
    run_id: str
    site: str = ""  # the --site tree drilled ("" : the test server)
    site_digest: str = ""  # what that tree says (Site.digest): the results history keys runs by it
    url: str = ""  # where port 80 was published while the target lived
    tls_url: str = ""  # and port 443, on a site that serves TLS
    probes: tuple[Check, ...] = ()  # what the probe requested, and what the healthy server answers each
    # A drill that never got steady: one line per probe, what it expected and what it got.
    unsteady: tuple[str, ...] = ()
    rounds: tuple[Diagnosis, ...] = ()  # every round's diagnosis, in order (the first is `diagnosis`)

    @property
    def causes(self) -> tuple[str, ...]:
        """Every cause the rounds named, in order, once each."""
        found = self.rounds or ((self.diagnosis,) if self.diagnosis is not None else ())
        return tuple(dict.fromkeys(d.cause for d in found))

    @property
    def on_own_server(self) -> bool:
        """harness's own test server, where every scenario must break the server (not a team's --site tree)."""
        return not self.site

    @property
    def symptom_matches(self) -> bool:
        """The declared symptom was seen. On a team's site any outage counts: with several virtual hosts, a site
        taken away is answered by another server (wrong content), not refused as on the one-site test server."""
        if self.site and self.symptom_seen is not None and self.declared_symptom is not Symptom.LATENT:
            return True
        return self.symptom_seen == self.declared_symptom

    @property
    def false_alarm(self) -> bool:
        return self.baseline is not None and not self.baseline.healthy

    @property
    def diagnosis_correct(self) -> bool:
        """The scenario's cause was named: by the first round, or (two faults at once) by a later one."""
        return self.diagnosis is not None and self.declared_cause in self.causes

    @property
    def diagnosed(self) -> bool:
        """The doctor named a cause for a fault (a withstood one has nothing to name: the doctor found it healthy)."""
        return self.diagnosis is not None and self.verdict is not Verdict.WITHSTOOD

    @property
    def passed(self) -> bool:
        if self.verdict is Verdict.WITHSTOOD:
            return not self.on_own_server
        return self.verdict is Verdict.RECOVERED and self.symptom_matches and self.diagnosis_correct

    def problems(self) -> list[str]:
        """Why a drill did not pass, one line each (empty when it passed)."""
        if self.verdict is Verdict.WITHSTOOD:
            if not self.on_own_server:
                return []
            return [
                f"withstood on harness's own test server, where every scenario must break the server: "
                f"{self.scenario} broke nothing, so the scenario is broken"
            ]
        found = []
        if self.verdict is not Verdict.RECOVERED:
            found.append(f"verdict {self.verdict.value}: {self.reason}")
        if self.symptom_seen is not None and not self.symptom_matches:
            found.append(
                f"symptom seen was {self.symptom_seen.value}, the scenario declares {self.declared_symptom.value}"
            )
        if self.diagnosis is not None and not self.diagnosis_correct:
            found.append(f"diagnosis was {self.diagnosis.cause}, the scenario's cause is {self.declared_cause}")
        return found
