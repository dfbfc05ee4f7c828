"""`harness history`: past drills and verify-fix runs, per scenario and fix, with a regression gate."""

from __future__ import annotations

import json

import click
from rich.table import Table
from rich.text import Text

from harness.cli import PASSED, SITE, VERDICT_FAILED, cli, progress, stdout
from harness.config import Settings
from harness.history import Key, Regression, ResultStore, Run, group, site_label
from harness.schemas import schema_id
from harness.site import Site

FAIL_IF_SLOWER = click.option(
    "--fail-if-slower",
    "fail_if_slower",
    type=click.FloatRange(0, 10_000),
    default=None,
    metavar="PCT",
    help="Exit 1 when the newest time to recover is more than PCT % above the median of earlier runs "
    "of the same scenario on the same site (tree) and image.",
)


def open_store(settings: Settings) -> ResultStore:
    """The results store, opened now so a bad HARNESS_RESULTS fails before any container starts."""
    store = ResultStore(settings.results)
    store.runs(kind="")  # creates the schema, or says in one line why it cannot
    return store


def record(store: ResultStore, runs: list[Run], fail_if_slower: float | None) -> int:
    """Append RUNS; with a threshold, compare each to its history. Returns an exit code."""
    code = PASSED
    for run in runs:
        row = store.append(run)
        if fail_if_slower is None:
            continue
        regression = store.regression(run.key, fail_if_slower, latest_id=row)
        code = max(code, _judge(regression, run))
    progress(f"recorded {len(runs)} result{'s' if len(runs) != 1 else ''} in {store.path}")
    return code


def _judge(regression: Regression | None, run: Run) -> int:
    if regression is None:
        progress(f"{run.label}: no regression check yet (it needs 3 earlier passed runs with a time to recover)")
        return PASSED
    progress(regression.line())
    return VERDICT_FAILED if regression.slower else PASSED


@cli.command("history")
@click.option("--scenario", default=None, help="Only this scenario.")
@click.option("--fix", default=None, metavar="NAME", help="Only this fix (its file name).")
@click.option("--kind", type=click.Choice(["drill", "verify-fix"]), default=None, help="Only drills or only fixes.")
@click.option("--last", type=click.IntRange(1, 10_000), default=10, show_default=True, help="Runs shown per group.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@FAIL_IF_SLOWER
@SITE
def history_command(
    scenario: str | None,
    fix: str | None,
    kind: str | None,
    last: int,
    as_json: bool,
    fail_if_slower: float | None,
    site: Site | None,
) -> int:
    """Show past runs per scenario and fix: verdict, time to detect, time to recover.

    The store is .harness/results.sqlite, or the file HARNESS_RESULTS names.
    """
    store = ResultStore(Settings.from_env().results)
    if not store.path.exists():
        progress(f"no results recorded yet in {store.path}")
        if as_json:
            click.echo(json.dumps(_to_dict({}, {}, last), indent=2))
        return PASSED
    digest = site.digest if site is not None else None  # the tree as it is now: earlier trees are other sites
    grouped = group(store.runs(scenario=scenario, fix=fix, kind=kind, site=digest))
    regressions = {key: store.regression(key, fail_if_slower) for key in grouped} if fail_if_slower is not None else {}
    if as_json:
        click.echo(json.dumps(_to_dict(grouped, regressions, last), indent=2))
    else:
        _render(grouped, last)
        for regression in regressions.values():
            if regression is not None:
                stdout().print(regression.line(), highlight=False)
    return VERDICT_FAILED if any(r is not None and r.slower for r in regressions.values()) else PASSED


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _render(grouped: dict[Key, list[Run]], last: int) -> None:
    console = stdout()
    if not grouped:
        console.print("no matching runs")
        return
    table = Table(title="results history (oldest first)", title_justify="left")
    for column in ("scenario / fix", "recorded (UTC)", "verdict"):
        table.add_column(column, no_wrap=True)
    for column in ("TTD s", "TTR s", "total s"):
        table.add_column(column, justify="right")
    for _key, runs in sorted(grouped.items()):
        shown = runs[-last:]
        for index, run in enumerate(shown):
            name = f"{run.label} ({len(runs)} runs)\n{run.where}" if index == 0 else ""
            style = "green" if run.passed else "red"
            table.add_row(
                Text(name),
                run.recorded_at[:19].replace("T", " "),
                f"[{style}]{run.verdict}[/{style}]",
                _seconds(run.time_to_detect),
                _seconds(run.time_to_recover),
                _seconds(run.duration),
                end_section=index == len(shown) - 1,
            )
    console.print(table)


def _to_dict(
    grouped: dict[Key, list[Run]],
    regressions: dict[Key, Regression | None],
    last: int,
) -> dict[str, object]:
    out = []
    for key, runs in sorted(grouped.items()):
        regression = regressions.get(key)
        out.append(
            {
                "kind": key[0],
                "scenario": key[1],
                "fix": key[2] or None,
                "site": key[3] or None,  # the tree's digest; null: harness's test server; "?": recorded before
                "site_label": site_label(key[3], runs[-1].site_name),
                "image": key[4] or None,
                "runs": [
                    {
                        "recorded_at": r.recorded_at,
                        "verdict": r.verdict,
                        "passed": r.passed,
                        "time_to_detect_s": r.time_to_detect,
                        "time_to_recover_s": r.time_to_recover,
                        "duration_s": r.duration,
                        "run_id": r.run_id,
                        "fix_sha256": r.fix_sha256 or None,
                    }
                    for r in runs[-last:]
                ],
                "regression": None
                if regression is None
                else {
                    "latest_s": regression.latest,
                    "median_s": regression.median,
                    "baseline_runs": regression.baseline_runs,
                    "change_pct": round(regression.change_pct, 2),
                    "slower": regression.slower,
                },
            }
        )
    return {"schema": schema_id("history"), "groups": out}
