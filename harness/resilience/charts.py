"""The report's charts, drawn by matplotlib's SVG backend into static SVG (no JavaScript at view time).

Colours are Okabe and Ito's palette, readable with the common colour blindnesses; every colour also comes with a
marker shape or a label, so nothing is told by colour alone, in print either.
"""

from __future__ import annotations

import functools
import io
import re
import statistics
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from matplotlib import rc_context
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

# Okabe & Ito (2008), "Color Universal Design".
BLUE, GREEN, VERMILLION, PURPLE, ORANGE, SKY, GREY = (
    "#0072B2",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#8C8C8C",
)
OUTCOME_STYLE = {  # colour, matplotlib marker, the symbol the page and Markdown use
    "withstood": (BLUE, "s", "■"),
    "recovered": (GREEN, "o", "●"),
    "not-recovered": (VERMILLION, "X", "✖"),
    "not-detected": (PURPLE, "D", "◆"),
    "not-scored": (GREY, "P", "✚"),
}
# The lanes of a drill's timeline, top to bottom; a phase another drill names (a repair round, a new step) gets a
# lane of its own below these.
LANES = ("steady", "inject", "detect", "diagnose", "repair", "verify")
LANE_COLOUR = {"steady": SKY, "inject": ORANGE, "detect": VERMILLION, "diagnose": PURPLE, "repair": BLUE}
EVENT_MARKS = {"injected": "inject", "detected": "detect", "diagnosed": "diagnosis", "recovered": "recover"}

# Set around each chart, never globally: a suite that plots for itself keeps its own settings.
STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",  # text stays text: small files, and the browser's own font
    "svg.hashsalt": "harness",  # ids that do not change between runs
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

Chart = TypeVar("Chart", bound=Callable[..., str])


def _styled(draw: Chart) -> Chart:
    @functools.wraps(draw)
    def styled(*args: Any, **kwargs: Any) -> str:
        with rc_context(STYLE):
            return draw(*args, **kwargs)

    return cast(Chart, styled)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    FigureCanvasSVG(figure)
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # inline: no XML declaration or doctype
    # A catalogue's page holds a hundred charts and must stay under 1 MB: drop what the browser does not need
    # (the font list, which the page's CSS sets once; names of groups; sub-pixel digits; null rotations).
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r"font-family:[^;\"]*;? ?", "", text)
    text = re.sub(r'<g id="[^"]*">', "<g>", text)
    text = re.sub(r' transform="rotate\(-?0 [^)]*\)"', "", text)
    text = re.sub(r'( (?:d|x|y|width|height|viewBox)=")([^"]*)"', _rounded, text)
    return _unwrapped(re.sub(r"\s*\n\s*", "\n", text))


def _rounded(attribute: re.Match[str]) -> str:
    """Coordinates to a tenth of a point; text (tick labels) is left as written."""
    return attribute.group(1) + re.sub(r"(\d+\.\d)\d+", r"\1", attribute.group(2)) + '"'


def _unwrapped(svg: str) -> str:
    """SVG without the groups that carry no attribute (matplotlib nests four deep): they change nothing drawn."""
    out: list[str] = []
    bare: list[bool] = []
    at = 0
    for tag in re.finditer(r"<g>|<g\s[^>]*>|</g>", svg):
        out.append(svg[at : tag.start()])
        at = tag.end()
        if tag.group() == "</g>":
            if not bare.pop():
                out.append("</g>")
        else:
            bare.append(tag.group() == "<g>")
            if not bare[-1]:
                out.append(tag.group())
    out.append(svg[at:])
    return re.sub(r"\n+", "\n", "".join(out))


@_styled
def times(scenarios: list[dict[str, Any]], target: float) -> str:
    """Time to detect and to recover per scenario, over its runs: the whole spread as a thin line, the middle half
    as a thick one, the median as a bar, and the newest run as its outcome's marker."""
    names = [s["scenario"] for s in scenarios]
    figure = Figure(figsize=(9.0, 0.9 + 0.24 * len(names)))
    panels = figure.subplots(1, 2, sharey=True)
    for axes, key, title in (
        (panels[0], "time_to_detect_s", "time to detect (s)"),
        (panels[1], "time_to_recover_s", "time to recover (s)"),
    ):
        for row, scenario in enumerate(scenarios):
            y = len(names) - 1 - row
            values = [r[key] for r in scenario["runs"] if r[key] is not None]
            if len(values) > 1:  # one run has no spread, and its median is the newest marker itself
                axes.plot([min(values), max(values)], [y, y], color=GREY, linewidth=1.2, zorder=1)
                # The middle half as a thick bar, not every run as a dot: the page must not grow with the history.
                low, _, high = statistics.quantiles(values, n=4) if len(values) > 2 else (min(values), 0, max(values))
                axes.plot([low, high], [y, y], color=GREY, linewidth=5, solid_capstyle="butt", zorder=2)
                median = statistics.median(values)
                axes.plot([median, median], [y - 0.3, y + 0.3], color="black", linewidth=1.6, zorder=3)
            newest = scenario[key]
            if newest is not None:
                colour, marker, _ = OUTCOME_STYLE[scenario["outcome"]]
                axes.scatter(
                    [newest], [y], s=42, color=colour, marker=marker, zorder=4, edgecolors="black", linewidths=0.5
                )
        axes.set_title(title, loc="left", fontsize=9)
        axes.set_xlim(left=0)
        axes.grid(axis="x", color="#dddddd", linewidth=0.6)
        axes.set_axisbelow(True)
    slowest = max((r["time_to_recover_s"] or 0.0 for s in scenarios for r in s["runs"]), default=0.0)
    if target <= 1.5 * slowest:
        panels[1].set_xlim(0, max(panels[1].get_xlim()[1], target * 1.05))
        panels[1].axvline(target, color=VERMILLION, linestyle="--", linewidth=1)
        panels[1].text(target, len(names) - 0.4, f" target {target:g} s", fontsize=8, color=VERMILLION, va="bottom")
    else:  # drawn to scale it would squash every recovery into the left edge
        panels[1].text(
            1.0,
            1.0,
            f"target {target:g} s: beyond every run",
            transform=panels[1].transAxes,
            fontsize=8,
            color=VERMILLION,
            ha="right",
            va="bottom",
        )
    panels[0].set_yticks(range(len(names)), list(reversed(names)))
    panels[0].set_ylim(-0.7, len(names) - 0.3)
    return _svg(figure)


@_styled
def trend(points: list[dict[str, Any]]) -> str:
    """The score after each run; a drop is marked and names the scenarios that fell."""
    figure = Figure(figsize=(9.0, 2.2))
    axes = figure.subplots()
    xs = list(range(1, len(points) + 1))
    ys = [p["score"] if p["score"] is not None else float("nan") for p in points]
    axes.plot(xs, ys, color=BLUE, linewidth=1.5, marker="o", markersize=4, zorder=2)
    for x, point in zip(xs, points, strict=True):
        if point["dropped"]:
            axes.scatter(
                [x], [point["score"]], marker="v", s=70, color=VERMILLION, zorder=3, edgecolors="black", linewidths=0.5
            )
            if point["fell"]:
                axes.annotate(
                    ", ".join(point["fell"][:3]) + ("…" if len(point["fell"]) > 3 else ""),
                    (x, point["score"]),
                    textcoords="offset points",
                    xytext=(4, -12),
                    fontsize=7.5,
                    color=VERMILLION,
                )
    axes.set_ylim(0, 105)
    axes.set_xlim(0.5, max(1.5, len(points) + 0.5))
    axes.set_ylabel("score")
    axes.set_xticks(xs, _run_labels([p["at"] for p in points]), fontsize=7.5)
    if len(xs) > 12:
        for index, label in enumerate(axes.get_xticklabels()):
            label.set_visible(index % max(1, len(xs) // 12) == 0)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_title("resilience score after each run (▼: it dropped)", loc="left", fontsize=9)
    return _svg(figure)


def _run_labels(moments: list[str]) -> list[str]:
    """A run's date, or its time when the run before it was on the same day."""
    labels, day = [], ""
    for moment in moments:
        labels.append(moment[11:16] if moment[:10] == day else moment[5:10])
        day = moment[:10]
    return labels


def _lane(name: str) -> tuple[str, bool]:
    """The lane of a phase, and whether it is a sub-phase: 'verify/doctor' is drawn thin in 'verify';
    a repeated phase ('repair' twice, or 'round 2/repair') lands in the same lane again."""
    parts = [p for p in name.split("/") if p]
    for index, part in enumerate(parts):
        if part in LANES:
            return part, index < len(parts) - 1 or (index > 0 and not parts[0].startswith("round"))
    return parts[0] if parts else name, len(parts) > 1


@_styled
def timeline(
    sketch: dict[str, Any], marks: Sequence[tuple[float, str, str]] = (), since: str = "the drill began"
) -> str:
    """One drill (or rehearsal) as phases on a time axis: a lane per phase, repeated phases (repair rounds) as
    repeated bars in their lane, events as marks, and the probe's answers as a band beneath."""
    phases = [p for p in sketch.get("phases", []) if p[0] not in ("start", "teardown")]
    lanes = [lane for lane in LANES if any(_lane(p[0])[0] == lane for p in phases)]
    lanes += sorted({_lane(p[0])[0] for p in phases} - set(lanes))
    probe = sketch.get("probe") or []
    rows = len(lanes) + (1 if probe else 0)
    figure = Figure(figsize=(8.0, 0.5 + 0.22 * rows))
    axes = figure.subplots()
    seen: dict[str, int] = {}
    for name, start, end, ok in phases:
        lane, sub = _lane(name)
        y = rows - 1 - lanes.index(lane)
        height = 0.32 if sub else 0.62
        colour = LANE_COLOUR.get(lane, GREEN)
        axes.broken_barh(
            [(start, max(end - start, 0.01))],
            (y - height / 2, height),
            facecolors=colour,
            edgecolor="black" if not ok else "none",
            linewidth=1.2 if not ok else 0,
            hatch="//" if not ok else None,
            alpha=0.55 if sub else 0.9,
        )
        if not sub:
            seen[lane] = seen.get(lane, 0) + 1
            if seen[lane] > 1:
                axes.text(start, y + 0.34, f"round {seen[lane]}", fontsize=7, va="bottom")
    for outcome, _count, start, end in probe:
        good = outcome == "ok"
        axes.broken_barh(
            [(start, max(end - start, 0.02))],
            (-0.3, 0.6),
            facecolors=GREEN if good else VERMILLION,
            hatch=None if good else "xx",
            edgecolor="white",
            linewidth=0,
        )
    top = rows - 0.4
    end = max([p[2] for p in phases] + [r[3] for r in probe] + [at for at, _, _ in marks] + [1.0])
    last, lift = -1.0, 0.0
    for kind, at, _detail in sketch.get("events", []):
        if kind in EVENT_MARKS:
            axes.axvline(at, color="black", linewidth=0.7, linestyle=":")
            lift = 0.5 - lift if at - last < end / 12 else 0.0  # a label close to the one before goes up a step
            axes.text(at, top + lift, EVENT_MARKS[kind], fontsize=7, ha="left", va="bottom")
            last = at
    last, step = -1.0, 0
    for at, label, colour in sorted(marks):
        axes.axvline(at, color=colour, linewidth=1.2)
        step = (step + 1) % 3 if at - last < end / 8 else 0  # close marks take turns at three heights
        axes.text(at, top + 0.5 + 0.4 * step, label, fontsize=7, ha="left", va="bottom", color=colour)
        last = at
    axes.set_yticks(range(rows), [*(["probe"] if probe else []), *reversed(lanes)])
    axes.set_ylim(-0.6, rows + (1.9 if marks else 0.7))
    first = min([p[1] for p in phases] + [r[2] for r in probe] + [0.0 if marks else float("inf")])
    axes.set_xlim(left=max(0.0, first - 0.1))  # from the steady state: starting the target is not the drill
    axes.set_xlabel(f"seconds since {since}", fontsize=8)
    return _svg(figure)
