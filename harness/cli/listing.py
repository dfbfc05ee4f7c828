"""`harness list`: the scenarios installed, with their symptom and cause."""

from __future__ import annotations

import json

import click

from harness.cli import PASSED, cli, stdout
from harness.report import catalogue_to_dict, render_catalogue
from harness.scenario import load_catalogue


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_scenarios(as_json: bool) -> int:
    """List the scenarios, with the symptom each shows and the cause a diagnosis must name."""
    catalogue = load_catalogue()
    if as_json:
        click.echo(json.dumps(catalogue_to_dict(catalogue), indent=2))
    else:
        render_catalogue(catalogue, stdout())
    return PASSED
