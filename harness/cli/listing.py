"""`harness list`: the scenarios installed, with their symptom and cause (and, with --site, whether each applies)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.catalogue import Catalogue, load_catalogue
from harness.causes import registry
from harness.cli import PASSED, SITE, cli, stdout
from harness.schemas import schema_id

if TYPE_CHECKING:
    from harness.site import Site


def missing(needs: tuple[str, ...], site: Site | None) -> str:
    """Why a scenario cannot apply to SITE; the test server takes every scenario (and needs no site model)."""
    if site is None:
        return ""
    from harness.choice import missing as lacking

    return lacking(needs, site)


def catalogue_to_dict(catalogue: Catalogue, site: Site | None = None) -> dict[str, Any]:
    return {
        "schema": schema_id("list"),
        "site": str(site.folder) if site is not None else None,
        "scenarios": [
            {
                "name": name,
                "symptom": cls.symptom.value,
                "cause": cls.cause,
                "summary": cls.summary,
                "applies": not missing(cls.needs, site),
                "why_not": missing(cls.needs, site) or None,
                "source": str(getattr(cls, "source", cls.__module__)),
            }
            for name, cls in sorted(catalogue.scenarios.items())
        ],
        "broken": [
            {"name": p.name, "distribution": p.distribution, "reason": p.reason}
            for p in (*catalogue.broken, *registry().broken)
        ],
        "causes": [
            {"order": unit.order, "id": unit.id, "area": unit.area, "remedy": unit.remedy is not None}
            for unit in registry().causes
        ],
    }


def render_catalogue(catalogue: Catalogue, console: Console, site: Site | None = None) -> None:
    title = "scenarios" if site is None else f"scenarios on {site.folder}"
    table = Table(title=title, title_justify="left")
    for column in ("scenario", "symptom", "cause"):
        table.add_column(column, no_wrap=True)
    table.add_column("what it does" if site is None else "applies?", overflow="fold")
    for name, cls in sorted(catalogue.scenarios.items()):
        why_not = missing(cls.needs, site)
        said = Text(cls.summary) if site is None else Text(f"no: {why_not}" if why_not else "yes")
        table.add_row(Text(name), cls.symptom.value, Text(cls.cause), said)
    console.print(table)
    for problem in (*catalogue.broken, *registry().broken):
        console.print(Text.assemble(("broken plugin", "red"), " ", str(problem)))


def render_causes(console: Console) -> None:
    """The cause units in the order the doctor tries them: a unit of your own needs an order none of these has."""
    table = Table(title="cause units, in the order the doctor tries them", title_justify="left")
    for column in ("order", "cause", "area"):
        table.add_column(column, no_wrap=True)
    table.add_column("repair", overflow="fold")
    for unit in registry().causes:
        repair = "remedy" if unit.remedy is not None else Text(f"advice: {unit.advice}" if unit.advice else "by hand")
        table.add_row(str(unit.order), Text(unit.id), unit.area, repair)
    console.print(table)
    for problem in registry().broken:
        console.print(Text.assemble(("broken plugin", "red"), " ", str(problem)))


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--causes", is_flag=True, help="List the cause units instead, in the order the doctor tries them.")
@SITE
def list_scenarios(as_json: bool, causes: bool, site: Site | None) -> int:
    """List the scenarios, with the symptom each shows and the cause a diagnosis must name.

    With --site DIR, each scenario says whether it applies to that configuration, and if not, why.
    With --causes, the cause units: their order, area and whether they repair.
    """
    catalogue = load_catalogue()
    if as_json:
        click.echo(json.dumps(catalogue_to_dict(catalogue, site), indent=2))
    elif causes:
        render_causes(stdout())
    else:
        render_catalogue(catalogue, stdout(), site)
    return PASSED
