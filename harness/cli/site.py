"""`harness site DIR`: what harness will probe on a site, and why, before any drill."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from harness.cli import PASSED, cli, progress, stdout
from harness.site import load_site, probe_plan


@cli.command("site")
@click.argument("folder", metavar="DIR")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--record",
    is_flag=True,
    help="Also lay the site into a target and record what the healthy server answers each probe (starts a container).",
)
def site_command(folder: str, as_json: bool, record: bool) -> int:
    """Show the probes a drill of DIR makes: what each expects, why, and at what pace.

    The pace is what the site's own limit_req / limit_conn allow one client; servers a client outside cannot
    reach (a status page on 127.0.0.1) are listed as not probed. --record also records the healthy answers.
    """
    site = load_site(folder)
    plan = probe_plan(site)
    recorded: list[str] = []
    if record:
        from harness.session import Session

        with Session(progress=progress, site=site) as session:
            recorded = session.preflight()
    if as_json:
        click.echo(json.dumps({**plan, "recorded": recorded}, indent=2))
        return PASSED
    _render(plan, recorded)
    return PASSED


def _render(plan: dict[str, Any], recorded: list[str]) -> None:
    console = stdout()
    table = Table(title=f"probes of {plan['folder']}", title_justify="left")
    for column in ("request", "expects", "why", "pace"):
        table.add_column(column, overflow="fold")
    for probe in plan["probes"]:
        table.add_row(Text(probe["request"]), Text(probe["expects"]), Text(probe["why"]), Text(probe["pace"]))
    console.print(table)
    for line in plan["not_probed"]:
        console.print(Text(f"not probed: {line}"))
    console.print(Text(f"one sample of every probe: {plan['sample_every']}"))
    console.print(Text(f"load bursts: {plan['load']}"))
    for line in recorded:
        console.print(Text(f"recorded: {line}"))
