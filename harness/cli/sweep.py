"""`harness sweep`: remove containers and networks that dead harness runs left behind."""

from __future__ import annotations

import click

from harness import engine, ownership
from harness.cli import PASSED, cli


@cli.command("sweep")
@click.option(
    "--all", "everything", is_flag=True, help="Remove every harness container on the engine, also those of live runs."
)
def sweep_command(everything: bool) -> int:
    """Remove orphans: harness containers whose owning process is gone."""
    client = engine.connect()
    removed = ownership.remove_all(client) if everything else ownership.sweep_orphans(client)
    for item in removed:
        click.echo(f"removed {item.kind} {item.name} (run {item.run})")
    click.echo(f"{len(removed)} removed")
    return PASSED
