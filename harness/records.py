"""What a drill or a verify-fix leaves in the results history."""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from harness.history import Run, detail_json

if TYPE_CHECKING:  # a drill's command need not import verify-fix's machinery to record its result
    from harness.outcome import Result
    from harness.verify import FixReport


def _site_name(result: Result) -> str:
    return PurePath(result.site).name if result.site else ""


def sketch(result: Result) -> dict[str, Any]:
    """What the report draws of one drill, small enough to keep for every run: phases, events, the probe's
    outcomes as runs, the cause against the declared one, and where the request broke."""
    timeline = result.timeline
    diagnosis = result.diagnosis
    broken = None
    if diagnosis is not None:
        step = next((t.broken for t in diagnosis.traces if t.broken is not None), None)
        if step is not None:
            broken = {"step": step.what, "detail": step.detail, "where": step.where or None}
    return {
        "declared_cause": result.declared_cause,
        "cause_correct": result.diagnosis_correct,
        "summary": result.summary,
        "evidence": list(diagnosis.evidence[:6]) if diagnosis is not None else [],
        "broken_step": broken,
        "phases": [
            [p.name, round(timeline.offset(p.start), 3), round(timeline.offset(p.end), 3), p.ok]
            for p in timeline.phases
        ],
        "events": [[e.kind.value, round(timeline.offset(e.t), 3), e.detail[:160]] for e in timeline.events],
        "probe": [
            [r.outcome.value, r.count, round(timeline.offset(r.start), 3), round(timeline.offset(r.end), 3)]
            for r in timeline.outcome_runs()
        ],
    }


def run_of_drill(result: Result) -> Run:
    return Run(
        kind="drill",
        scenario=result.scenario,
        verdict=result.verdict.value,
        passed=result.passed,
        time_to_detect=result.time_to_detect,
        time_to_recover=result.time_to_recover,
        duration=result.duration,
        run_id=result.run_id,
        detail=detail_json(
            {
                "diagnosis": result.diagnosis.cause if result.diagnosis else None,
                "symptom_seen": result.symptom_seen.value if result.symptom_seen else None,
                "detected_by": result.detected_by.value if result.detected_by else None,
                "reason": result.reason,
                "image": result.image,
                **sketch(result),
            }
        ),
        # Which site and image the run belongs to: its median is taken over runs of those alone.
        site=result.site_digest,
        site_name=_site_name(result),
        image=result.image,
    )


def run_of_fix(report: FixReport) -> Run:
    return Run(
        kind="verify-fix",
        scenario=report.scenario,
        fix=report.fix.name,
        fix_sha256=report.fix.sha256,
        verdict=report.verdict.value,
        passed=report.passed,
        time_to_detect=report.drill.time_to_detect,
        # For a fix, recovery is timed from the moment the fix started: that is what a fix can change.
        time_to_recover=report.time_to_restore,
        duration=report.duration,
        run_id=report.drill.run_id,
        detail=detail_json(
            {
                "checks": {c.name: c.status.value for c in report.checks},
                "repairs_also": report.repairs(),
                "reason": report.reason,
                "image": report.image,
            }
        ),
        site=report.drill.site_digest,
        site_name=_site_name(report.drill),
        image=report.image,
    )
