"""Write a report's files: index.html, report.md and the report.json both are drawn from.

The page is self-contained: inline CSS and SVG, no script, nothing loaded from the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import InvalidInput
from harness.resilience.markdown import to_markdown

MISSING = "the report needs matplotlib and Jinja2: pip install 'nginx-harness[report]'"


def _environment() -> Any:
    try:
        import jinja2
    except ImportError:
        raise InvalidInput(MISSING) from None
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.resilience", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["s"] = _seconds
    return environment


def _charts() -> Any:
    try:
        from harness.resilience import charts
    except ImportError:
        raise InvalidInput(MISSING) from None
    return charts


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def render_html(document: dict[str, Any]) -> str:
    environment, charts = _environment(), _charts()
    import markupsafe  # Jinja2's own dependency: there once Jinja2 is

    target = document["score_formula"]["target_time_to_recover_s"]
    drawn = []
    for section in document["sections"]:
        drawn.append(
            {
                "times": markupsafe.Markup(charts.times(section["scenarios"], target)),
                "trend": markupsafe.Markup(charts.trend(section["trend"])),
                "timelines": {
                    s["scenario"]: markupsafe.Markup(charts.timeline(s["timeline"]))
                    for s in section["scenarios"]
                    if s["timeline"]["phases"]
                },
            }
        )
    template = environment.get_template("report.html.j2")
    return str(template.render(doc=document, drawn=drawn, styles=charts.OUTCOME_STYLE))


def write(out: Path, document: dict[str, Any]) -> list[Path]:
    """Write the three files into OUT (made if missing); returns their paths."""
    html = render_html(document)  # first: a missing extra fails before anything is written
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"--out {str(out)!r} cannot be made ({exc.strerror})") from None
    written = [out / "index.html", out / "report.md", out / "report.json"]
    written[0].write_text(html)
    written[1].write_text(to_markdown(document))
    written[2].write_text(json.dumps(document, indent=1) + "\n")
    return written
