"""The postmortem draft of a rehearsal, in the shape of the original outage's postmortem.

Issue Summary, Timeline, Root Cause and Resolution, Corrective and
Preventative Measures, and the figures, from what the watcher measured and
what the participants noted. Markdown for people, JSON for tools.
"""

from __future__ import annotations

import json
import logging
import shlex
from datetime import datetime
from typing import Any

from harness.causes import registry
from harness.gameday.state import Rehearsal, RehearsalState, Status, parse_iso
from harness.schemas import schema_id

log = logging.getLogger(__name__)
GENERIC = ("Add a probe of port 80 from outside to monitoring, and `harness check` to the deploy pipeline.",)


def _measures(cause: str) -> tuple[str, ...]:
    """The cause unit's own corrective measures; the generic ones for a cause no unit knows."""
    unit = registry().get(cause)
    return unit.measures if unit is not None else GENERIC


def _at(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S.%f")[:-3]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.1f} s" if minutes else f"{rest:.1f} s"


def _regression_test(scenario: str, site: str | None) -> dict[str, str]:
    """The fix proved again on the server the rehearsal ran on: the team's site tree, or harness's own."""
    on_site = f" --site {shlex.quote(site)}" if site else ""
    run_with = f"# run with: pytest --harness-site {shlex.quote(site)}\n" if site else ""
    return {
        "command": f"harness verify-fix {scenario} fixes/{scenario}.sh{on_site}",
        "pytest": (
            f"{run_with}def test_{scenario.replace('-', '_')}_fix(harness_verify_fix):\n"
            f'    harness_verify_fix("{scenario}", "fixes/{scenario}.sh")\n'
        ),
    }


def build(rehearsal: Rehearsal, state: RehearsalState) -> dict[str, Any]:
    injected, ended, detected, recovered = state.injected_at, state.ended_at, state.detected_at, state.recovered_at
    notes, hints = rehearsal.notes(), rehearsal.hints()
    probe = state.probe
    scenario, cause, summary = state.scenario or "?", state.cause or "?", state.summary or ""
    timeline: list[dict[str, Any]] = []
    if injected:
        timeline.append({"at": injected, "kind": "fault", "text": f"The fault went in: {summary}"})
    if detected:
        timeline.append({"at": detected, "kind": "detected", "text": f"Detected {state.detected_by or ''}"})
    for note in notes:
        kind = "misleading-path" if note.dead_end else "note"
        timeline.append({"at": parse_iso(note.at), "kind": kind, "text": note.text})
    for hint in hints:
        timeline.append({"at": parse_iso(hint.at), "kind": "hint", "text": f"Hint {hint.number} used: {hint.text}"})
    end_at = recovered or ended
    if end_at:
        kind = "resolved" if recovered else "ended"
        timeline.append({"at": end_at, "kind": kind, "text": state.reason or ""})
    timeline.sort(key=lambda item: item["at"])
    ttd, ttr = _seconds(injected, detected), _seconds(injected, recovered)
    return {
        "schema": schema_id("gameday-report"),
        "kind": "gameday",
        "id": rehearsal.id,
        "scenario": scenario,
        "hidden": state.hidden,
        "status": state.status.value,
        "passed": state.status is Status.RECOVERED,
        "summary": {
            "start": injected.isoformat() if injected else None,
            "end": end_at.isoformat() if end_at else None,
            "duration_s": _seconds(injected, end_at),
            "recovered": recovered is not None,
            "failed_requests_pct": round(100.0 - (probe.availability_pct if probe else 100.0), 2),
            "probe_requests": probe.samples if probe else 0,
            "symptom": probe.symptom if probe else None,  # None: no monitoring request failed (a latent fault)
            "root_cause": {"cause": cause, "in_words": summary},
        },
        "timeline": [{**item, "at": item["at"].isoformat()} for item in timeline],
        "misleading_paths": [{"at": n.at, "text": n.text} for n in notes if n.dead_end],
        "doctor": {"before": state.doctor_before, "after": state.doctor_after},
        "measures": list(_measures(cause)),
        "regression_test": _regression_test(scenario, state.site),
        "figures": {
            "time_to_detect_s": ttd,
            "time_to_recover_s": ttr,
            "availability_pct": probe.availability_pct if probe else None,
            "hints_used": len(hints),
            "notes": len(notes),
        },
    }


def to_markdown(report: dict[str, Any]) -> str:
    s, f = report["summary"], report["figures"]
    start, end = _at(s["start"]), _at(s["end"])
    day = start.strftime("%Y-%m-%d") if start else "?"
    span = f"from {_clock(start)} to {_clock(end)} UTC on {day}" if start and end else "not measured"
    outcome = "recovered" if s["recovered"] else f"NOT recovered ({report['status']})"
    lines = [
        f"# Postmortem draft: {report['scenario']} (game-day rehearsal {report['id']})",
        "",
        "_Drafted by harness from what was measured during the rehearsal; edit before sharing._",
        "",
        "## Issue Summary",
        "",
        f"- **Duration:** {_duration(s['duration_s'])}, {span}; {outcome}.",
        f"- **Impact:** {s['failed_requests_pct']:.1f} % of {s['probe_requests']} monitoring requests to port 80 "
        f"failed; clients saw: {s['symptom'] or 'no failure (the fault was latent)'}.",
        f"- **Root cause:** {s['root_cause']['in_words']} (`{s['root_cause']['cause']}`).",
        "",
        "## Timeline (UTC)",
        "",
    ]
    for item in report["timeline"]:
        mark = " — **misleading path**" if item["kind"] == "misleading-path" else ""
        lines.append(f"- {_clock(parse_iso(item['at']))} — {item['kind']}: {item['text']}{mark}")
    lines += ["", "### Misleading paths", ""]
    lines += [f"- {_clock(parse_iso(m['at']))} — {m['text']}" for m in report["misleading_paths"]] or ["- none noted"]
    before, after = report["doctor"]["before"], report["doctor"]["after"]
    lines += ["", "## Root Cause and Resolution", ""]
    if before:
        lines += [f"**Before** (examined right after the fault): `{before['cause']}`: {before['summary']}", ""]
        lines += [f"- {line}" for line in before["evidence"]]
    if after:
        lines += ["", f"**After**: `{after['cause']}`: {after['summary']}"]
    lines += ["", "## Corrective and Preventative Measures", ""]
    lines += [f"- {m}" for m in report["measures"]]
    test = report["regression_test"]
    lines += [
        "- Turn this outage into a regression test: save the fix that worked and prove it on every change:",
        "",
        "  ```sh",
        f"  {test['command']}",
        "  ```",
        "",
        "  or in a pytest suite:",
        "",
        "  ```python",
        *(f"  {line}" for line in test["pytest"].rstrip().splitlines()),
        "  ```",
        "",
        "## Figures",
        "",
        "| time to detect | time to recover | availability | hints used | notes |",
        "|---|---|---|---|---|",
        f"| {_duration(f['time_to_detect_s'])} | {_duration(f['time_to_recover_s'])} | "
        f"{f['availability_pct'] if f['availability_pct'] is not None else '—'} % | {f['hints_used']} | {f['notes']} |",
        "",
    ]
    return "\n".join(lines)


def write_report(rehearsal: Rehearsal, state: RehearsalState) -> dict[str, Any]:
    report = build(rehearsal, state)
    rehearsal.report_path("json").write_text(json.dumps(report, indent=2))
    rehearsal.report_path("md").write_text(to_markdown(report))
    _write_page(rehearsal, report)
    return report


def _write_page(rehearsal: Rehearsal, report: dict[str, Any]) -> None:
    """report.html, with the timeline drawn, where the report extra is installed; the Markdown stands without it."""
    from harness.errors import InvalidInput

    try:
        from harness.resilience.rehearsal import render_html

        rehearsal.report_path("html").write_text(render_html(report))
    except InvalidInput as exc:
        log.info("no postmortem page: %s", exc)
