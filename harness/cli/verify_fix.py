"""`harness verify-fix SCENARIO FIX`: prove a fix script restores service, again and again."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli import HARNESS_ERROR, JOURNAL, PASSED, SITE, VERDICT_FAILED, cli, progress, stdout
from harness.cli.history import FAIL_IF_SLOWER, open_store, record
from harness.fix import DEFAULT_FIX_TIMEOUT, Fix
from harness.fix_report import render_report, report_to_dict
from harness.records import run_of_fix
from harness.session import Session
from harness.site import Site
from harness.verify import FixReport, FixVerdict, VerifyOptions, verify_fix


def exit_code(report: FixReport) -> int:
    if report.verdict is FixVerdict.PASSED:
        return PASSED
    return HARNESS_ERROR if report.verdict is FixVerdict.ERROR else VERDICT_FAILED


@cli.command("verify-fix")
@click.argument("scenario")
@click.argument("fix_path", metavar="FIX")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (progress still goes to stderr).")
@click.option(
    "--timeout",
    "fix_timeout",
    type=click.FloatRange(1, 3600),
    default=DEFAULT_FIX_TIMEOUT,
    show_default=True,
    help="Seconds a run of the fix may take before it is killed.",
)
@click.option(
    "--settle",
    type=click.FloatRange(1, 600),
    default=10.0,
    show_default=True,
    help="Seconds port 80 may take to serve again after the fix or a restart.",
)
@click.option(
    "--scope/--no-scope",
    default=False,
    show_default=True,
    help="Also try the fix on every other scenario (one more target each: minutes, not seconds).",
)
@click.option("--jobs", type=click.IntRange(1, 16), default=8, show_default=True, help="Targets at once for --scope.")
@JOURNAL
@SITE
@FAIL_IF_SLOWER
def verify_fix_command(
    scenario: str,
    fix_path: str,
    as_json: bool,
    fix_timeout: float,
    settle: float,
    scope: bool,
    jobs: int,
    fail_if_slower: float | None,
    site: Site | None,
    journal: Path | None,
) -> int:
    """Break a fresh target with SCENARIO, run FIX in it as root, and judge the fix.

    FIX is a shell script (bash, or what its shebang names) or a Puppet
    manifest (.pp). It runs only inside throwaway targets, never on this
    machine. Checks: restores, healthy, idempotent, harmless, durable, and
    (with --scope) which other scenarios it also repairs.
    """
    fix = Fix.load(fix_path)
    with Session(progress=progress, site=site) as session:
        (chosen,), _ = session.scenarios([scenario])
        store = open_store(session.settings)
        progress(f"image {session.image.describe()}")
        for line in session.preflight():
            progress(f"site: {line}")
        options = VerifyOptions(
            fix_timeout=fix_timeout,
            settle_timeout=settle,
            interval=session.settings.probe_interval,
            scope=scope,
            jobs=jobs,
        )
        report = verify_fix(session, chosen, fix, options, progress)
    if as_json:
        click.echo(json.dumps(report_to_dict(report), indent=2))
    else:
        render_report(report, stdout())
    if journal is not None:
        from harness.journal import fix_journal, write

        write(journal, fix_journal(report))
        progress(f"journal: {journal}")
    gate = record(store, [run_of_fix(report)], fail_if_slower)
    return max(exit_code(report), gate)
