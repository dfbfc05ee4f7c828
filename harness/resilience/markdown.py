"""The report as Markdown short enough for a CI step summary or a pull-request comment."""

from __future__ import annotations

from typing import Any

SYMBOL = {"withstood": "■", "recovered": "●", "not-recovered": "✖", "not-detected": "◆", "not-scored": "✚"}


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _score(value: float | None) -> str:
    return "not scored" if value is None else f"**{value:.1f}**/100"


def _change(scenario: dict[str, Any]) -> str:
    slower = scenario["slower"]
    if slower is None:
        return ""
    mark = " ⚠ slower" if slower["slower"] else ""
    return f"{slower['change_pct']:+.0f} % vs median {slower['median_s']:.3f}{mark}"


def section_markdown(section: dict[str, Any]) -> list[str]:
    counts = section["counts"]
    trend = [p["score"] for p in section["trend"] if p["score"] is not None]
    before = f" (was {trend[-2]:.1f})" if len(trend) > 1 else ""
    lines = [
        f"### {section['label']} · image `{section['image'] or '?'}`",
        "",
        f"Resilience score {_score(section['score']['value'])}{before} over {section['score']['scored']} scenarios; "
        f"{counts['withstood']} withstood, {counts['recovered']} recovered, {counts['not-recovered']} not recovered, "
        f"{counts['not-detected']} not detected, {counts['not-scored']} not scored.",
        "",
    ]
    for title, names in (
        ("Broke", section["broke"]),
        ("Got slower", section["slower"]),
        ("Wrong cause named", section["wrong_cause"]),
        ("Broke nothing on the test server (a broken scenario)", section["broken_scenarios"]),
    ):
        if names:
            lines.append(f"- **{title}:** {', '.join(names)}")
    notable = [s for s in section["scenarios"] if _notable(s)]
    if notable:
        lines += ["", *_table(notable)]
    else:
        lines += [f"- All {len(section['scenarios'])} scenarios held, in time, with the right cause named."]
    lines += [
        "",
        f"<details><summary>All {len(section['scenarios'])} scenarios</summary>",
        "",
        *_table(section["scenarios"]),
        "",
        "</details>",
    ]
    return [*lines, ""]


def _notable(scenario: dict[str, Any]) -> bool:
    """What a reader must see without unfolding anything: not held, held late, slower, or the wrong cause."""
    slower = scenario["slower"] is not None and scenario["slower"]["slower"]
    wrong = scenario["cause"] is not None and scenario["cause_correct"] is False
    return scenario["points"] != 100.0 or slower or wrong


def _table(scenarios: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| scenario | outcome | cause named | detect s | recover s | vs earlier runs |",
        "|---|---|---|---:|---:|---|",
    ]
    for s in scenarios:
        cause = "—" if s["cause"] is None else f"`{s['cause']}` {'✓' if s['cause_correct'] else '✗'}"
        lines.append(
            f"| {s['scenario']} | {SYMBOL[s['outcome']]} {s['outcome']} | {cause} | {_s(s['time_to_detect_s'])} | "
            f"{_s(s['time_to_recover_s'])} | {_change(s)} |"
        )
    return lines


def to_markdown(document: dict[str, Any]) -> str:
    formula = document["score_formula"]
    lines = ["## harness resilience report", ""]
    if not document["sections"]:
        lines += ["No drills in the results history match.", ""]
    for section in document["sections"]:
        lines += section_markdown(section)
    lines += [
        f"<sub>{formula['text']}; target time to recover {formula['target_time_to_recover_s']:g} s. "
        f"Generated {document['generated_at']}.</sub>",
        "",
    ]
    return "\n".join(lines)
