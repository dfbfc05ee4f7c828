"""`harness drill SCENARIO`: one measured drill on a fresh target."""

from __future__ import annotations

import json

import click
from rich.console import Console

from harness.cli import HARNESS_ERROR, PASSED, VERDICT_FAILED, cli, progress, stderr
from harness.drill import Drill, DrillInterrupted, DrillOptions, Result, Verdict
from harness.report import render_result, result_to_dict
from harness.session import Session
from harness.timeline import Event


def emit_result(result: Result, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result_to_dict(result), indent=2))
    else:
        render_result(result, Console())


def exit_code(result: Result) -> int:
    if result.passed:
        return PASSED
    if result.verdict in (Verdict.ERROR, Verdict.NOT_STEADY):
        return HARNESS_ERROR
    return VERDICT_FAILED


@cli.command("drill")
@click.argument("scenario")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (progress still goes to stderr).")
@click.option("--interval", type=click.FloatRange(5, 10_000), default=None, help="Probe interval in ms [default: 50].")
@click.option(
    "--streak",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="Consecutive samples that confirm a state change.",
)
@click.option(
    "--phase-timeout",
    type=click.FloatRange(1, 3600),
    default=None,
    help="Seconds each wait (steady, detect, recover) may take [default: 20].",
)
def drill_command(
    scenario: str, as_json: bool, interval: float | None, streak: int, phase_timeout: float | None
) -> int:
    """Break a fresh target with SCENARIO, then detect, diagnose, repair and verify it."""
    with Session(progress=progress) as session:
        chosen = session.catalogue.get(scenario)  # bad names fail before any container starts
        settings = session.settings
        wait = phase_timeout or settings.phase_timeout
        options = DrillOptions(
            streak=streak,
            interval=(interval / 1000) if interval else settings.probe_interval,
            steady_timeout=wait,
            detect_timeout=wait,
            recover_timeout=wait,
        )
        image = session.image
        progress(f"image {image.describe()}")
        with stderr.status(f"drill {scenario}: starting a target") as status:

            def show(event: Event, offset: float) -> None:
                status.update(f"drill {scenario}: +{offset:.2f}s {event.kind.value}")
                if not stderr.is_terminal:  # logs get a line per event; a terminal gets the spinner
                    progress(f"+{offset:.3f}s {event.kind.value}: {event.detail}")

            try:
                result = Drill(session, chosen, options=options, observer=show).run()
            except DrillInterrupted as exc:
                emit_result(exc.result, as_json)
                raise
    emit_result(result, as_json)
    return exit_code(result)
