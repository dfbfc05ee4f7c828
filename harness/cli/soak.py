"""`harness soak N`: N drills of random scenarios back to back, watching for failures, leaks and memory growth."""

from __future__ import annotations

import json
from dataclasses import asdict

import click
from rich.table import Table

from harness.cli import PASSED, VERDICT_FAILED, cli, progress, stdout
from harness.drill import DrillOptions
from harness.outcome import Result
from harness.schemas import schema_id
from harness.session import Session
from harness.soak import FLAT_MB, Sample, SoakReport, soak


@cli.command("soak")
@click.argument("count", type=click.IntRange(1, 100_000))
@click.option("--seed", type=int, default=None, help="Seed for the scenario draw, to replay a soak exactly.")
@click.option("--json", "as_json", is_flag=True, help="Print the report and every drill's figures as JSON.")
def soak_command(count: int, seed: int | None, as_json: bool) -> int:
    """Run COUNT drills of random scenarios back to back; report failures, leaks and memory over time.

    Exit 0 only with no failed drill, no container, descriptor or thread left
    behind, and resident memory flat after warm-up.
    """
    with Session(progress=progress) as session:
        progress(f"image {session.image.describe()}")

        def tell(sample: Sample, result: Result) -> None:
            mark = "ok" if sample.passed else f"FAILED ({result.verdict.value})"
            progress(
                f"[{sample.number}/{count}] {sample.scenario}: {mark} in {sample.duration:.1f} s; "
                f"rss {sample.rss_mb:.1f} MB, fds {sample.fds}, threads {sample.threads}"
            )

        options = DrillOptions(interval=session.settings.probe_interval)
        report = soak(session, count, seed, options, progress=tell)
    if as_json:
        click.echo(json.dumps(_to_dict(report), indent=2))
    else:
        _render(report)
    return PASSED if report.ok else VERDICT_FAILED


def _to_dict(report: SoakReport) -> dict[str, object]:
    return {
        "schema": schema_id("soak"),
        "passed": report.ok,
        "seed": report.seed,
        "drills": len(report.samples),
        "failures": report.failures,
        "leaks": report.leaks,
        "memory": {"growth_mb": round(report.memory_growth_mb, 2), "flat": report.memory_flat},
        "wall_s": round(report.wall, 1),
        "samples": [asdict(s) for s in report.samples],
    }


def _render(report: SoakReport) -> None:
    samples = report.samples
    console = stdout()
    table = Table(title=f"soak: {len(samples)} drills, seed {report.seed}", title_justify="left")
    for column in ("drills done", "passed so far", "rss MB", "open fds", "threads", "containers left"):
        table.add_column(column, justify="right")
    marks = sorted({max(1, round(len(samples) * f)) for f in (0.01, 0.1, 0.25, 0.5, 0.75, 1.0)})
    for mark in marks:
        s = samples[mark - 1]
        passed = sum(x.passed for x in samples[:mark])
        table.add_row(
            str(mark),
            f"{passed}/{mark}",
            f"{s.rss_mb:.1f}",
            str(s.fds),
            str(s.threads),
            str(sum(x.containers_left for x in samples[:mark])),
        )
    console.print(table)
    flat = "flat" if report.memory_flat else "GROWING"
    console.print(
        f"failures: {len(report.failures)}   leaks: {len(report.leaks)}   "
        f"memory after warm-up: {report.memory_growth_mb:+.1f} MB ({flat}; allowed +{FLAT_MB:g} MB)   "
        f"wall: {report.wall / 60:.1f} min",
        highlight=False,
    )
    for line in [*report.failures, *report.leaks]:
        console.print(f"  ✗ {line}", style="red", highlight=False, markup=False)
