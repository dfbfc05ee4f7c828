"""What a drill or a verify-fix leaves in the results history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.history import Run, detail_json

if TYPE_CHECKING:  # a drill's command need not import verify-fix's machinery to record its result
    from harness.drill import Result
    from harness.verify import FixReport


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
            }
        ),
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
    )
