"""`harness check CONTAINER`: is this nginx server healthy? Read-only, for any container."""

from __future__ import annotations

import json

import click
from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from harness import engine
from harness.check import CheckReport, check_server, find_container
from harness.cli import HARNESS_ERROR, PASSED, VERDICT_FAILED, cli, stdout
from harness.config import Settings
from harness.report import diagnosis_to_dict
from harness.schemas import schema_id
from harness.site import load_site


@cli.command("check")
@click.argument("container")
@click.option("--expect", default=None, metavar="TEXT", help="Text the page on port 80 must contain.")
@click.option("--host", "hosts", multiple=True, metavar="NAME", help="Probe `/` with this Host header (repeatable).")
@click.option(
    "--site",
    "site_dir",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="Probe what this nginx tree's drills probe (its server names, proxied paths and settings).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict and evidence as JSON.")
def check_command(
    container: str, expect: str | None, hosts: tuple[str, ...], site_dir: str | None, as_json: bool
) -> int:
    """Probe CONTAINER's port 80 and run the doctor in it; change nothing.

    Works on any running container, not only harness targets: the
    post-deployment check. Without --host or --site it probes `/` on every
    server_name the running configuration names, and a catch-all that
    closes the connection (return 444) is reported as by design.
    Exit 0 when healthy, 1 when a fault is found.
    """
    site = load_site(site_dir) if site_dir is not None else None
    settings = Settings.from_env()
    client = engine.connect()
    try:
        report = check_server(find_container(client, container), expect, settings.probe_timeout, hosts, site)
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(_to_dict(report), indent=2))
    else:
        _render(report)
    if report.unchecked:
        return HARNESS_ERROR  # not a finding about the server, and never a pass
    return PASSED if report.healthy else VERDICT_FAILED


def _to_dict(report: CheckReport) -> dict[str, object]:
    return {
        "schema": schema_id("check"),
        "container": report.container,
        "passed": report.healthy,
        "unchecked": report.unchecked or None,
        "probe": {
            "url": report.url,
            "skipped": report.skipped_probe or None,
            "ok": report.probe_ok,
            "samples": [{"outcome": s.outcome.value, "status": s.status, "detail": s.detail} for s in report.samples],
            "by_design": list(report.by_design),
        },
        "diagnosis": diagnosis_to_dict(report.diagnosis),
    }


def _render(report: CheckReport) -> None:
    if report.samples:
        bad = [s for s in report.samples if not s.ok]
        shown = bad[0] if bad else report.samples[-1]
        state = f"{len(report.samples) - len(bad)}/{len(report.samples)} ok"
        probe = Text(f"probe {report.url}: {state}; {shown.outcome.value} ({shown.detail})")
    else:
        probe = Text(f"probe: skipped ({report.skipped_probe})", style="yellow")
    diagnosis = report.diagnosis
    parts = [
        probe,
        *(Text(f"  · {line}", style="dim") for line in report.by_design),
        Text.assemble(("doctor: ", "bold"), (diagnosis.cause, "green" if diagnosis.healthy else "bold red")),
        Text(diagnosis.summary, style="italic"),
        *(Text(f"  · {line}", style="dim") for line in diagnosis.evidence),
        Text(""),
        *([Text(report.unchecked, style="bold yellow")] if report.unchecked else []),
        Text.assemble(
            ("verdict: ", "bold"),
            ("NOT CHECKED", "bold yellow")
            if report.unchecked
            else ("HEALTHY", "bold green")
            if report.healthy
            else ("FAULT", "bold red"),
        ),
    ]
    stdout().print(Panel(Group(*parts), title=f"check {report.container}", title_align="left"))
