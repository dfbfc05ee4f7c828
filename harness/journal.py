"""A drill as a Chaos Toolkit journal, so that tools which read those journals work on harness runs.

The mapping (chaostoolkit-lib's journal, as `chaos run` writes it):
  steady-state hypothesis  the probe's good streak and the doctor's examination, before and after
  method                   the injection, then detection and diagnosis (probes)
  rollbacks                the repair: the remedy, or the fix under test
  status / deviated        completed (recovered, withstood), failed (deviated: port 80 did not come back), aborted,
                           interrupted

harness's own findings (diagnosis, time to detect and recover, verdict) are in
the experiment's `extensions`, under the name "harness", as Chaos Toolkit's
own extensions are.

The hypothesis makes the probe's real requests (Host, path, http or https, the
healthy answer), against the experiment's `configuration` (where the server was
published, and its container), so that `chaos run` of the experiment checks a
multi-vhost site as the drill did. A withstood drill is completed, not deviated.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import __version__
from harness.doctor import Diagnosis
from harness.outcome import Result, Verdict
from harness.probe import DEFAULT_CHECKS, Check
from harness.timeline import EventKind, Phase, Timeline
from harness.verify import FixReport

Entry = dict[str, Any]

_STATUS = {
    Verdict.RECOVERED: "completed",
    Verdict.WITHSTOOD: "completed",  # the method ran and the hypothesis held throughout: not deviated
    Verdict.NOT_DETECTED: "completed",  # the method ran and nothing clear showed (a flicker, load not ruled out)
    Verdict.NOT_RECOVERED: "failed",
    Verdict.NOT_STEADY: "failed",
    Verdict.ERROR: "aborted",
    Verdict.INTERRUPTED: "interrupted",
}

# The experiment's configuration: where the server was published during the drill. `chaos run --var
# harness_url=http://host/` points the experiment at another server without editing it.
HTTP_BASE, TLS_BASE, CONTAINER = "harness_url", "harness_tls_url", "harness_container"
PROBE_TIMEOUT = 1.0


def _activity(kind: str, name: str, module: str, func: str, arguments: Entry, **extra: Any) -> Entry:
    """A Python activity naming the harness function that did the step, with what it was given (as text)."""
    provider = {"type": "python", "module": module, "func": func, "arguments": arguments}
    return {"type": kind, "name": name, "provider": provider, **extra}


def _check_name(check: Check) -> str:
    where = "-".join(part for part in (check.scheme, check.host or "any-host", check.path.strip("/")) if part)
    return "answers-" + "".join(c if c.isalnum() or c in "-." else "-" for c in where)


def _probe_activity(check: Check, timeout: float) -> Entry:
    """One request the probe made, as a Chaos Toolkit probe with the healthy server's answer as its tolerance.

    An HTTP probe where Chaos Toolkit's own provider judges it as harness does by status; a redirect (its
    provider follows redirects, which would send the request off to another host) and a closed connection
    (`return 444`, which its provider reports as a failure) are judged by harness's own function instead.
    """
    base = "${" + (TLS_BASE if check.scheme == "https" else HTTP_BASE) + "}"
    if not (check.closed or 300 <= check.status < 400):
        headers = {"Host": check.host} if check.host else {}
        provider: Entry = {"type": "http", "url": base + check.path, "method": "GET", "timeout": timeout}
        if headers:
            provider["headers"] = headers
        if check.scheme == "https":
            provider["verify_tls"] = False  # the target's certificate is its own, not one a client would trust
        return {"type": "probe", "name": _check_name(check), "provider": provider, "tolerance": check.status}
    arguments = {
        "url": base,
        "path": check.path,
        "host": check.host,
        "scheme": check.scheme,
        "status": check.status,
        "location": check.location,
        "closed": check.closed,
        "timeout": timeout,
    }
    return _activity("probe", _check_name(check), "harness.journal", "answers_as_healthy", arguments, tolerance=True)


def answers_as_healthy(
    url: str, path: str, host: str, scheme: str, status: int, location: str, closed: bool, timeout: float = 1.0
) -> bool:
    """Chaos Toolkit's probe for a request whose healthy answer is a redirect or a closed connection: one request
    to URL (the base, http or https as SCHEME says), judged as harness's probe judges it."""
    from harness.probe import Probe

    check = Check(path, "", own_page=False, host=host, scheme=scheme, status=status, location=location, closed=closed)
    probe = Probe(url, timeout=timeout, checks=(check,), tls_url=url)
    try:
        return probe.sample().ok
    finally:
        probe.close()


def _steady_probes(result: Result) -> list[Entry]:
    """The requests the drill's probe made, each with the answer the healthy server gives it."""
    return [_probe_activity(check, PROBE_TIMEOUT) for check in result.probes or DEFAULT_CHECKS]


def _doctor_probe(result: Result) -> Entry:
    return _activity(
        "probe",
        "doctor-finds-nginx-healthy",
        "harness.journal",
        "doctor_finds_healthy",
        {"container": "${" + CONTAINER + "}"},
        tolerance=True,
    )


def doctor_finds_healthy(container: str) -> bool:
    """Chaos Toolkit's probe of the inside: the doctor's examination of CONTAINER finds nginx healthy."""
    from harness import engine
    from harness.check import find_container
    from harness.doctor import examine

    client = engine.connect()
    try:
        return examine(find_container(client, container)).healthy
    finally:
        client.close()


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
    held = event is not None
    streak_output = {"streak": event.detail} if event is not None else None
    probes = [
        *(
            _run(
                timeline,
                probe,
                timeline.phase(streak),
                streak_output and {**streak_output, "answer": probe["tolerance"]},
                held,
            )
            for probe in _steady_probes(result)
        ),
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
    detect = {**_steady_probes(result)[0], "name": "detect-from-outside"}
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
    if result.verdict is Verdict.WITHSTOOD:  # the hypothesis held through the fault: watched, then examined
        after = _hypothesis(result, "detect/hold", "detect/doctor", result.diagnosis, EventKind.WITHSTOOD)
    else:
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
            "probes": [*_steady_probes(result), _doctor_probe(result)],
        },
        "method": [activity for activity, _ in method],
        "rollbacks": [repair],
        "extensions": [extension],
        "configuration": {
            HTTP_BASE: result.url or "http://127.0.0.1/",
            TLS_BASE: result.tls_url or "https://127.0.0.1/",
        },
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
