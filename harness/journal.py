"""A drill as a Chaos Toolkit journal, so that tools which read those journals work on harness runs.

The mapping (chaostoolkit-lib's journal, as `chaos run` writes it):
  steady-state hypothesis  the probe's good streak and the doctor's examination, before and after
  method                   the injection, then detection and diagnosis (probes)
  rollbacks                the repair: the remedy, or the fix under test
  status / deviated        completed, failed (deviated: port 80 did not come back), aborted, interrupted

harness's own findings (diagnosis, time to detect and recover, verdict) are in
the experiment's `extensions`, under the name "harness", as Chaos Toolkit's
own extensions are.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import __version__
from harness.doctor import Diagnosis
from harness.drill import Result, Verdict
from harness.timeline import EventKind, Phase, Timeline
from harness.verify import FixReport

Entry = dict[str, Any]

_STATUS = {
    Verdict.RECOVERED: "completed",
    Verdict.NOT_DETECTED: "completed",  # the method ran and the hypothesis held: the fault never showed
    Verdict.NOT_RECOVERED: "failed",
    Verdict.NOT_STEADY: "failed",
    Verdict.ERROR: "aborted",
    Verdict.INTERRUPTED: "interrupted",
}


def _activity(kind: str, name: str, module: str, func: str, arguments: Entry, **extra: Any) -> Entry:
    """A Python activity naming the harness function that did the step, with what it was given (as text)."""
    provider = {"type": "python", "module": module, "func": func, "arguments": arguments}
    return {"type": kind, "name": name, "provider": provider, **extra}


def _streak_probe(result: Result) -> Entry:
    # What the monitor sends every interval: a GET of port 80 that must answer the expected page.
    provider = {"type": "http", "url": result.url or "http://127.0.0.1/", "method": "GET", "timeout": 1}
    return {"type": "probe", "name": "port-80-serves-the-expected-page", "provider": provider, "tolerance": 200}


def _doctor_probe(result: Result) -> Entry:
    return _activity(
        "probe", "doctor-finds-nginx-healthy", "harness.doctor", "examine", {"target": result.target}, tolerance=True
    )


def _diagnosis(diagnosis: Diagnosis | None) -> Entry | None:
    if diagnosis is None:
        return None
    return {"cause": diagnosis.cause, "summary": diagnosis.summary, "evidence": list(diagnosis.evidence)}


def _run(
    timeline: Timeline, activity: Entry, phase: Phase | None, output: Any, tolerance: bool | None = None
) -> Entry | None:
    """One journal entry, timed by the drill's own phase; None when the drill never reached it."""
    if phase is None:
        return None
    entry: Entry = {
        "activity": activity,
        "output": output,
        "start": timeline.wall(phase.start).isoformat(),
        "status": "succeeded" if phase.ok else "failed",
        "end": timeline.wall(phase.end).isoformat(),
        "duration": round(phase.duration, 6),
    }
    if tolerance is not None:
        entry["tolerance_met"] = tolerance
    return entry


def _hypothesis(result: Result, streak: str, doctor: str, diagnosis: Diagnosis | None, seen: EventKind) -> Entry | None:
    timeline = result.timeline
    event = timeline.at(seen)
    streak_output = {"status": 200, "streak": event.detail} if event is not None else None
    probes = [
        _run(timeline, _streak_probe(result), timeline.phase(streak), streak_output, event is not None),
        _run(
            timeline,
            _doctor_probe(result),
            timeline.phase(doctor),
            _diagnosis(diagnosis),
            diagnosis is not None and diagnosis.healthy,
        ),
    ]
    entries = [p for p in probes if p is not None]
    if not entries:
        return None
    for entry in entries:
        if entry["status"] == "failed":
            entry["tolerance_met"] = False
    return {"steady_state_met": all(e["tolerance_met"] for e in entries), "probes": entries}


def _method(result: Result) -> list[tuple[Entry, Entry | None]]:
    """Each method activity, with its run entry (None when the drill never reached it)."""
    timeline = result.timeline
    inject = _activity(
        "action",
        f"inject-{result.scenario}",
        "harness.scenario",
        "call_plugin",
        {"scenario": result.scenario, "what": "inject", "call": f"{result.scenario}.inject"},
    )
    detect = {**_streak_probe(result), "name": "detect-from-outside"}
    del detect["tolerance"]
    diagnose = _activity("probe", "diagnose-blind", "harness.doctor", "examine", {"target": result.target})
    detected = {
        "detected_by": result.detected_by.value if result.detected_by else None,
        "symptom": result.symptom_seen.value if result.symptom_seen else None,
        "time_to_detect_s": result.time_to_detect,
    }
    return [
        (inject, _run(timeline, inject, timeline.phase("inject"), {"summary": result.summary})),
        (detect, _run(timeline, detect, timeline.phase("detect"), detected)),
        (diagnose, _run(timeline, diagnose, timeline.phase("diagnose"), _diagnosis(result.diagnosis))),
    ]


def _rollback(result: Result, activity: Entry) -> Entry | None:
    steps = [
        {"argv": list(s.argv), "exit_code": s.exit_code, "duration": round(s.duration, 6)} for s in result.repair_steps
    ]
    return _run(result.timeline, activity, result.timeline.phase("repair"), {"steps": steps})


def _extension(result: Result) -> Entry:
    return {
        "name": "harness",
        "harness_version": __version__,
        "scenario": result.scenario,
        "verdict": result.verdict.value,
        "passed": result.passed,
        "reason": result.reason,
        "declared": {"symptom": result.declared_symptom.value, "cause": result.declared_cause},
        "symptom_seen": result.symptom_seen.value if result.symptom_seen else None,
        "detected_by": result.detected_by.value if result.detected_by else None,
        "diagnosis": _diagnosis(result.diagnosis),
        "diagnosis_correct": result.diagnosis_correct,
        "time_to_detect_s": result.time_to_detect,
        "time_to_recover_s": result.time_to_recover,
        "round_trips": len(result.round_trips),
        "phases": {p.name: round(p.duration, 6) for p in result.timeline.phases},
        "target": {"image": result.image, "container": result.target, "site": result.site or None},
        "run_id": result.run_id,
    }


def journal(
    result: Result,
    *,
    rollback: Entry | None = None,
    extra: Callable[[Entry], None] | None = None,
) -> Entry:
    """The Chaos Toolkit journal of one drill. `rollback` names the repair's activity (default: the remedy);
    `extra` may add to the harness extension (verify-fix's checks)."""
    timeline = result.timeline
    cause = result.diagnosis.cause if result.diagnosis is not None else result.declared_cause
    repair = rollback or _activity(
        "action",
        f"repair-{cause}",
        "harness.drill",
        "repair_by_remedy",
        {"target": result.target, "diagnosis": cause},
    )
    extension = _extension(result)
    if extra is not None:
        extra(extension)
    method = _method(result)
    before = _hypothesis(result, "steady/streak", "steady/doctor", result.baseline, EventKind.STEADY)
    after = _hypothesis(result, "verify/streak", "verify/doctor", result.diagnosis_after, EventKind.RECOVERED)
    ended = timeline.phases[-1].end if timeline.phases else timeline.t0 + result.duration
    experiment = {
        "version": "1.0.0",
        "title": f"{result.scenario}: {result.summary}",
        "description": (
            f"harness drill {result.scenario}: port 80 serves the expected page before the fault, the fault is "
            "detected from outside and diagnosed blind, and after the repair port 80 serves again and the doctor "
            "finds nginx healthy."
        ),
        "tags": ["harness", "nginx", result.declared_cause],
        "steady-state-hypothesis": {
            "title": "port 80 serves the expected page and the doctor finds nginx healthy",
            "probes": [_streak_probe(result), _doctor_probe(result)],
        },
        "method": [activity for activity, _ in method],
        "rollbacks": [repair],
        "extensions": [extension],
        "dry": None,
    }
    return {
        "chaoslib-version": None,  # not written by chaostoolkit-lib: the harness version is in the extension
        "platform": platform.platform(),
        "node": platform.node(),
        "experiment": experiment,
        "start": timeline.started_at.isoformat(),
        "status": _STATUS[result.verdict],
        "deviated": result.verdict is Verdict.NOT_RECOVERED,
        "steady_states": {"before": before, "after": after, "during": []},
        "run": [entry for _, entry in method if entry is not None],
        "rollbacks": [entry for entry in (_rollback(result, repair),) if entry is not None],
        "end": timeline.wall(ended).isoformat(),
        "duration": round(ended - timeline.t0, 6),
    }


def fix_journal(report: FixReport) -> Entry:
    """verify-fix's journal: its drill, with the fix as the rollback and the further checks in the extension."""
    fix = report.fix

    def add(extension: Entry) -> None:
        extension["fix"] = {
            "name": fix.name,
            "kind": fix.kind.value,
            "sha256": fix.sha256,
            "verdict": report.verdict.value,
            "passed": report.passed,
            "reason": report.reason,
            "time_to_restore_s": report.time_to_restore,
            "checks": [{"name": c.name, "status": c.status.value, "summary": c.summary} for c in report.checks],
        }

    rollback = {
        "type": "action",
        "name": f"fix-{fix.name}",
        # What ran: the fix, inside the drill's target, through the engine.
        "provider": {"type": "process", "path": "docker", "arguments": ["exec", report.drill.target, *fix.argv()]},
    }
    return journal(report.drill, rollback=rollback, extra=add)


def write(path: Path, entry: Entry) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry, indent=2) + "\n")


def write_drills(results: list[Result], path: Path, several: bool) -> list[Path]:
    """One journal, or with several scenarios a folder of them (`SCENARIO.json`), as Chaos Toolkit keeps one
    experiment per journal."""
    if not several:
        write(path, journal(results[0]))
        return [path]
    written = [path / f"{r.scenario}.json" for r in results]
    for result, where in zip(results, written, strict=True):
        write(where, journal(result))
    return written
