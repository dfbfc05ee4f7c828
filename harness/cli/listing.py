"""`harness list`: the scenarios installed, with their symptom and cause (and, with --site, whether each applies)."""

from __future__ import annotations

import json

import click

from harness.cli import PASSED, SITE, cli, stdout
from harness.report import catalogue_to_dict, render_catalogue
from harness.scenario import load_catalogue
from harness.site import Site


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@SITE
def list_scenarios(as_json: bool, site: Site | None) -> int:
    """List the scenarios, with the symptom each shows and the cause a diagnosis must name.

    With --site DIR, each scenario says whether it applies to that configuration, and if not, why.
    """
    catalogue = load_catalogue()
    if as_json:
        click.echo(json.dumps(catalogue_to_dict(catalogue, site), indent=2))
    else:
        render_catalogue(catalogue, stdout(), site)
    return PASSED
