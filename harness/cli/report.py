"""`harness report`: the resilience report (HTML page, Markdown, JSON) from the results history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli import PASSED, SITE, cli, progress
from harness.config import Settings
from harness.history import ResultStore
from harness.site import Site

if TYPE_CHECKING:
    from harness.outcome import Result

OUT_HELP = "Folder for index.html, report.md and report.json."

REPORT = click.option(
    "--report",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Also write the resilience report of the sites drilled (page, Markdown, JSON) into DIR.",
)


def write_report(out: Path | None, store: ResultStore, results: list[Result]) -> None:
    """After a run: the report of the sites and images just drilled, with all their history."""
    if out is None or not results:
        return
    from harness.resilience.make import make

    _, written = make(store, out, sections={(r.site_digest, r.image) for r in results})
    progress(f"report: {written[0]}")


@cli.command("report")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("harness-report"),
    show_default=True,
    help=OUT_HELP,
)
@click.option(
    "--since",
    "since_text",
    default=None,
    metavar="WHEN",
    help="Only drills recorded since WHEN: a date or time (UTC), or an age such as 12h, 7d, 2w.",
)
@click.option("--scenario", "scenarios", multiple=True, metavar="NAME", help="Only this scenario (repeatable).")
@click.option(
    "--target-ttr",
    type=click.FloatRange(0.1, 86_400),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="The time to recover the score counts as in time.",
)
@click.option(
    "--slower-pct",
    type=click.FloatRange(0, 10_000),
    default=20.0,
    show_default=True,
    metavar="PCT",
    help="A newest time to recover this much above its median is marked slower.",
)
@SITE
def report_command(
    out: Path,
    since_text: str | None,
    scenarios: tuple[str, ...],
    target_ttr: float,
    slower_pct: float,
    site: Site | None,
) -> int:
    """Write the resilience report: one HTML page, a Markdown summary and the JSON they are drawn from.

    It reads the results history (.harness/results.sqlite, or HARNESS_RESULTS): one section per site and image,
    with a matrix of scenarios against outcomes, times against their history, the score and its trend.
    With --site DIR, only that tree's drills (the tree as it is now: its digest).
    """
    from harness.resilience.make import make, since

    store = ResultStore(Settings.from_env().results)
    if not store.path.exists():
        progress(f"no results recorded yet in {store.path}; the report will be empty")
    filters: dict[str, object] = {}
    sections = None
    if site is not None:
        filters["site"] = f"{site.name} ({site.digest[:8]})"
        sections = {(r.site, r.image) for r in store.runs(kind="drill", site=site.digest)}
    when = since(since_text) if since_text else None
    if when:
        filters["since"] = when
    if scenarios:
        filters["scenarios"] = ", ".join(scenarios)
    built, written = make(
        store,
        out,
        sections=sections,
        since=when,
        scenarios=scenarios,
        target=target_ttr,
        slower_pct=slower_pct,
        filters=filters,
    )
    for section in built["sections"]:
        score = section["score"]["value"]
        progress(
            f"{section['label']}: score {'—' if score is None else f'{score:.1f}'}, "
            f"{len(section['broke'])} broke, {len(section['slower'])} slower"
        )
    for path in written:
        progress(f"wrote {path}")
    return PASSED
