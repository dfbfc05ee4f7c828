"""The game-day postmortem as a page, with the rehearsal's timeline drawn as a drill's is.

The notes, hints, dead ends and the resolution are marks on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from harness.resilience.page import _charts, _environment

# Each kind of timeline item: its mark's colour (Okabe-Ito) and the word on the picture.
MARKS = {
    "note": ("#000000", "note"),
    "hint": ("#E69F00", "hint"),
    "misleading-path": ("#D55E00", "dead end"),
    "resolved": ("#009E73", "resolved"),
    "ended": ("#CC79A7", "ended unresolved"),
}


def sketch(report: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[float, str, str]]]:
    """The rehearsal in the drills' shape: detect from the fault to its detection, people at work from then to the
    end; the notes, hints, dead ends and the end as marks, in seconds since the fault went in."""
    items = report["timeline"]
    fault = next((i for i in items if i["kind"] == "fault"), items[0] if items else None)
    if fault is None:
        return {"phases": [], "events": [], "probe": []}, []
    t0 = datetime.fromisoformat(fault["at"])

    def at(item: dict[str, Any]) -> float:
        return round((datetime.fromisoformat(item["at"]) - t0).total_seconds(), 3)

    detected = next((at(i) for i in items if i["kind"] == "detected"), None)
    end = next((at(i) for i in items if i["kind"] in ("resolved", "ended")), max(at(i) for i in items))
    phases: list[list[Any]] = [["inject", 0.0, 0.0, True]]
    if detected is not None:
        phases.append(["detect", 0.0, detected, True])
    phases.append(["people at work", detected or 0.0, end, report["summary"]["recovered"]])
    events = [["injected", 0.0, ""]] + ([["detected", detected, ""]] if detected is not None else [])
    marks = [(at(i), MARKS[i["kind"]][1], MARKS[i["kind"]][0]) for i in items if i["kind"] in MARKS]
    return {"phases": phases, "events": events, "probe": []}, marks


def render_html(report: dict[str, Any]) -> str:
    environment, charts = _environment(), _charts()
    import markupsafe  # Jinja2's own dependency: there once Jinja2 is

    drawn, marks = sketch(report)
    picture = markupsafe.Markup(charts.timeline(drawn, marks, since="the fault went in")) if drawn["phases"] else None
    template = environment.get_template("postmortem.html.j2")
    return str(template.render(r=report, picture=picture, marks=MARKS))
