"""`harness image`: build the target image now, or show which one is cached."""

from __future__ import annotations

import click

from harness import engine
from harness.cli import PASSED, cli, progress
from harness.config import Settings
from harness.image import ensure_image


@cli.command("image")
@click.option("--rebuild", is_flag=True, help="Build again even if a cached image matches docker/.")
def image_command(rebuild: bool) -> int:
    """Make sure the target image exists (first use builds it) and say which base it uses."""
    client = engine.connect()
    image = ensure_image(client, Settings.from_env(), progress, rebuild=rebuild)
    click.echo(image.describe())
    return PASSED
