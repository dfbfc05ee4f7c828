"""The report as data: a section per site and image, drawn from the results history.

The page, the Markdown and the JSON all come from this one document, so their numbers are the same numbers.
"""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from typing import Any

from harness.history import Run, judge, site_label
from harness.resilience.score import DEFAULT_TARGET_S, FORMULA, OUTCOMES, Score, outcome, points
from harness.schemas import schema_id

DEFAULT_SLOWER_PCT = 20.0
Section = tuple[str, str]  # site digest, image


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _spread(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {
        "median": _r(statistics.median(values)),
        "min": _r(min(values)),
        "max": _r(max(values)),
        "runs": len(values),
    }


def _detail(run: Run) -> dict[str, Any]:
    try:
        data = json.loads(run.detail)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _scenario(runs: list[Run], target: float, slower_pct: float) -> dict[str, Any]:
    newest = runs[-1]
    detail = _detail(newest)
    regression = (
        judge(newest.key, newest.time_to_recover, runs[:-1], slower_pct) if newest.time_to_recover is not None else None
    )
    earned = points(newest.verdict, newest.time_to_recover, target, own_server=not newest.site)
    # A withstood fault leaves nothing to name: the doctor found the site healthy, which is no wrong answer.
    named = newest.verdict != "withstood"
    return {
        "scenario": newest.scenario,
        "outcome": outcome(newest.verdict),
        "verdict": newest.verdict,
        "passed": newest.passed,
        "reason": detail.get("reason") or "",
        "summary": detail.get("summary") or "",
        "cause": detail.get("diagnosis") if named else None,
        "declared_cause": detail.get("declared_cause"),
        "cause_correct": detail.get("cause_correct") if named else None,
        "detected_by": detail.get("detected_by"),
        "time_to_detect_s": _r(newest.time_to_detect),
        "time_to_recover_s": _r(newest.time_to_recover),
        "points": None if earned is None else round(earned, 1),
        "recorded_at": newest.recorded_at,
        "run_id": newest.run_id,
        "detect": _spread([r.time_to_detect for r in runs if r.time_to_detect is not None]),
        "recover": _spread([r.time_to_recover for r in runs if r.time_to_recover is not None]),
        "slower": None
        if regression is None
        else {
            "latest_s": _r(regression.latest),
            "median_s": _r(regression.median),
            "baseline_runs": regression.baseline_runs,
            "change_pct": round(regression.change_pct, 1),
            "slower": regression.slower,
        },
        "runs": [
            {
                "recorded_at": r.recorded_at,
                "run_id": r.run_id,
                "verdict": r.verdict,
                "time_to_detect_s": _r(r.time_to_detect),
                "time_to_recover_s": _r(r.time_to_recover),
            }
            for r in runs
        ],
        "timeline": {
            "phases": detail.get("phases") or [],
            "events": detail.get("events") or [],
            "probe": detail.get("probe") or [],
        },
        "evidence": detail.get("evidence") or [],
        "broken_step": detail.get("broken_step"),
    }


def _trend(runs: list[Run], target: float) -> list[dict[str, Any]]:
    """The score after each run of harness (a run id: one `drill --all`, one pytest session), over each
    scenario's newest drill so far; a drop names the scenarios whose points fell."""
    order: list[str] = []
    for run in runs:
        if run.run_id not in order:
            order.append(run.run_id)
    standing: dict[str, Run] = {}
    trend: list[dict[str, Any]] = []
    previous: float | None = None
    for run_id in order:
        before = dict(standing)
        at = ""
        for run in runs:
            if run.run_id == run_id:
                standing[run.scenario] = run
                at = run.recorded_at
        own = not runs[0].site
        score = Score.of([(r.verdict, r.time_to_recover) for r in standing.values()], target, own_server=own)
        fell = sorted(
            name
            for name, run in standing.items()
            if name in before
            and (points(run.verdict, run.time_to_recover, target, own) or 0.0)
            < (points(before[name].verdict, before[name].time_to_recover, target, own) or 0.0) - 0.05
        )
        dropped = previous is not None and score.value is not None and score.value < previous
        trend.append({"run_id": run_id, "at": at, "score": score.value, "dropped": dropped, "fell": fell})
        previous = score.value if score.value is not None else previous
    return trend


def _section(key: Section, runs: list[Run], target: float, slower_pct: float) -> dict[str, Any]:
    by_scenario: dict[str, list[Run]] = {}
    for run in runs:
        by_scenario.setdefault(run.scenario, []).append(run)
    scenarios = [_scenario(by_scenario[name], target, slower_pct) for name in sorted(by_scenario)]
    site, image = key
    score = Score.of([(s["verdict"], s["time_to_recover_s"]) for s in scenarios], target, own_server=not site)
    counts = {name: sum(s["outcome"] == name for s in scenarios) for name in OUTCOMES}
    return {
        "site": site or None,
        "site_name": runs[-1].site_name or None,
        "label": site_label(site, runs[-1].site_name),
        "image": image or None,
        "runs": len(runs),
        "first_at": runs[0].recorded_at,
        "last_at": runs[-1].recorded_at,
        "score": {"value": score.value, "scored": score.scored, "not_scored": score.not_scored},
        "trend": _trend(runs, target),
        "counts": counts,
        "broke": [s["scenario"] for s in scenarios if s["outcome"] in ("not-recovered", "not-detected")],
        "held": [s["scenario"] for s in scenarios if s["outcome"] in ("withstood", "recovered")],
        "slower": [s["scenario"] for s in scenarios if s["slower"] is not None and s["slower"]["slower"]],
        # On harness's own server every scenario must break it: one that broke nothing is a broken scenario.
        "broken_scenarios": [s["scenario"] for s in scenarios if not site and s["outcome"] == "withstood"],
        "wrong_cause": [s["scenario"] for s in scenarios if s["cause"] is not None and s["cause_correct"] is False],
        "scenarios": scenarios,
    }


def build(
    runs: list[Run],
    *,
    target: float = DEFAULT_TARGET_S,
    slower_pct: float = DEFAULT_SLOWER_PCT,
    filters: dict[str, Any] | None = None,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The report of RUNS (oldest first; drills only count): one section per site and image, harness's test
    server first."""
    grouped: dict[Section, list[Run]] = {}
    # In the order they were recorded: several processes append at once, so row ids need not follow the clock.
    for run in sorted(runs, key=lambda r: (r.recorded_at, r.id)):
        if run.kind == "drill":
            grouped.setdefault((run.site, run.image), []).append(run)
    order = sorted(grouped, key=lambda k: (k[0] != "", grouped[k][-1].site_name, k))
    return {
        "schema": schema_id("report"),
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "filters": filters or {},
        "score_formula": {"text": FORMULA, "target_time_to_recover_s": target, "slower_pct": slower_pct},
        "sections": [_section(key, grouped[key], target, slower_pct) for key in order],
    }
