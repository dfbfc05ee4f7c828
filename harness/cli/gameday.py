"""`harness gameday …`: a rehearsal on a broken server, with a dashboard, notes, hints and a postmortem draft."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import click

from harness import engine, ownership
from harness.cli import PASSED, VERDICT_FAILED, cli, progress, stdout
from harness.config import Settings
from harness.errors import HarnessError, InvalidInput
from harness.gameday.dashboard import render, run_dashboard, take_hint
from harness.gameday.state import Rehearsal, RehearsalState, Status, all_rehearsals, find, now, root_folder
from harness.gameday.watch import Watcher, WatchOptions
from harness.ownership import Removed
from harness.poll import poll_until
from harness.scenario_file import is_file_name
from harness.schemas import schema_id
from harness.session import Session
from harness.site import load_site

START_DEADLINE = 60.0  # for the watcher to start the target and inject the fault
DEFAULT_MAX_AGE = 4 * 3600.0
_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h)?")


def parse_duration(text: str, positive: bool = True) -> float:
    """90, 90s, 30m, 1h -> seconds (zero only where POSITIVE is False)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration; use e.g. 90s, 30m or 1h")
    seconds = float(match["n"]) * {"s": 1, "m": 60, "h": 3600}[match["unit"] or "s"]
    if seconds <= 0 and positive:
        raise click.BadParameter(f"{text!r} is not a positive duration; use e.g. 90s, 30m or 1h")
    return seconds


class Duration(click.ParamType):  # type: ignore[type-arg]
    name = "duration"

    def __init__(self, positive: bool = True) -> None:
        self.positive = positive

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        return value if isinstance(value, float) else parse_duration(str(value), self.positive)


def _root() -> Path:
    return root_folder(Settings.from_env().results)


_id_option = click.option("--id", "rehearsal_id", default=None, help="Which rehearsal (default: the running one).")


@cli.group("gameday")
def gameday() -> None:
    """Rehearse an outage: a hidden fault, a live dashboard, notes, hints, and a postmortem draft."""


@gameday.command("start")
@click.argument("scenario", required=False)
@click.option("--random", "pick_random", is_flag=True, help="Draw the scenario at random from the catalogue.")
@click.option("--hide", is_flag=True, help="Hide the scenario from the participants until the rehearsal ends.")
@click.option("--time-limit", type=Duration(), default="30m", show_default=True, help="e.g. 90s, 30m, 1h.")
@click.option("--streak", type=click.IntRange(1, 100), default=3, show_default=True, help="Good samples = recovered.")
@click.option(
    "--max-age",
    type=Duration(positive=False),  # 0s: sweep every rehearsal still running
    default=f"{int(DEFAULT_MAX_AGE)}s",
    show_default=True,
    help="Older rehearsals still running, or ones whose watcher died, are swept first.",
)
@click.option("--no-dashboard", is_flag=True, help="Start it and return (the dashboard: `harness gameday attach`).")
@click.option("--site", "site_dir", metavar="DIR", default=None, help="Rehearse on your own nginx configuration.")
def start_command(
    scenario: str | None,
    pick_random: bool,
    hide: bool,
    time_limit: float,
    streak: int,
    max_age: float,
    no_dashboard: bool,
    site_dir: str | None,
) -> int:
    """Start a target, break it with SCENARIO (or --random), and open the dashboard."""
    if bool(scenario) == pick_random:
        raise click.UsageError("name a SCENARIO or pass --random (see `harness list`)")
    root = _root()
    _sweep_abandoned(root, max_age)
    site = load_site(site_dir) if site_dir else None
    with Session(progress=progress, site=site) as session:
        applicable, _ = session.scenarios([scenario] if scenario else None)
        if scenario and is_file_name(scenario):
            name = str(Path(scenario).resolve())  # the watcher reads the file itself, from wherever it runs
        else:
            name = applicable[0].name if scenario else random.choice([s.name for s in applicable])
        progress(f"image {session.image.describe()}")  # built here, so the watcher never waits for a build
        for line in session.preflight():
            progress(f"site: {line}")
    rehearsal = Rehearsal.create(root)
    _spawn_watcher(rehearsal, name, hide, time_limit, streak, site_dir)
    state = _wait_until_broken(rehearsal)
    console = stdout()
    shown = "hidden" if hide else (applicable[0].name if scenario else name)
    # Not "port 80 is broken": a latent fault leaves it serving, and saying which would give the scenario away.
    console.print(f"game day {rehearsal.id} started: scenario {shown}; the fault is in.", highlight=False, markup=False)
    console.print(f"  root shell:   {state.shell}", highlight=False, markup=False)
    console.print('  note:         harness gameday note "what you tried" [--dead-end]', highlight=False, markup=False)
    console.print("  hint:         harness gameday hint      end: harness gameday end", highlight=False, markup=False)
    if no_dashboard or not sys.stdin.isatty():
        console.print("  dashboard:    harness gameday attach", highlight=False, markup=False)
        return PASSED
    return _exit(run_dashboard(rehearsal, console))


@gameday.command("attach")
@_id_option
def attach_command(rehearsal_id: str | None) -> int:
    """Open the dashboard of a running rehearsal (closing it leaves the rehearsal running)."""
    rehearsal = find(_root(), rehearsal_id)
    return _exit(run_dashboard(rehearsal, stdout()))


@gameday.command("note")
@click.argument("text")
@click.option("--dead-end", is_flag=True, help="Mark it as a misleading path: tried, and it was not that.")
@_id_option
def note_command(text: str, dead_end: bool, rehearsal_id: str | None) -> int:
    """Record what you tried on the rehearsal's timeline."""
    rehearsal = find(_root(), rehearsal_id)
    note = rehearsal.add_note(text, dead_end)
    progress(f"noted at {note.at[11:19]} UTC{' (dead end)' if dead_end else ''}: {note.text}")
    return PASSED


@gameday.command("hint")
@_id_option
def hint_command(rehearsal_id: str | None) -> int:
    """Reveal the next of the doctor's findings (each hint used is recorded)."""
    rehearsal = find(_root(), rehearsal_id)
    hint = take_hint(rehearsal)
    if hint is None:
        stdout().print("no more hints", highlight=False)
    else:
        stdout().print(f"Hint {hint.number}: {hint.text}", highlight=False, soft_wrap=True, markup=False)
    return PASSED


@gameday.command("status")
@_id_option
@click.option("--json", "as_json", is_flag=True, help="The rehearsal's state as JSON.")
def status_command(rehearsal_id: str | None, as_json: bool) -> int:
    """Show a rehearsal's state once (the dashboard, without the live updates)."""
    root = _root()
    rehearsal = find(root, rehearsal_id) if rehearsal_id or _any_active(root) else _latest(root)
    state = rehearsal.read()
    if as_json:
        document = {"schema": schema_id("gameday-status"), **state.to_dict()}
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        stdout().print(render(rehearsal, state))
    return PASSED


@gameday.command("end")
@_id_option
@click.option("--wait", type=click.FloatRange(0, 600), default=60, show_default=True, help="Seconds to wait for it.")
def end_command(rehearsal_id: str | None, wait: float) -> int:
    """Give up: end the rehearsal as not recovered, remove its target, and write the report."""
    rehearsal = find(_root(), rehearsal_id)
    rehearsal.request_end("given up (harness gameday end)")
    ended = poll_until(
        lambda: True if not rehearsal.status.active else None, timeout=wait, interval=0.2, what="the rehearsal to end"
    )
    if not ended:
        raise HarnessError(
            f"rehearsal {rehearsal.id} did not end within {wait:g} s; see {rehearsal.folder}/watcher.log"
        )
    stdout().print(f"ended; postmortem draft: {rehearsal.report_path('md')}", highlight=False, markup=False)
    return _exit(rehearsal.status)


@gameday.command("report")
@_id_option
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
def report_command(rehearsal_id: str | None, as_json: bool) -> int:
    """Print the postmortem draft of a finished rehearsal (default: the latest)."""
    root = _root()
    rehearsal = find(root, rehearsal_id) if rehearsal_id else _latest(root)
    path = rehearsal.report_path("json" if as_json else "md")
    if not path.exists():
        status = rehearsal.status
        if status.active:
            raise InvalidInput(
                f"rehearsal {rehearsal.id} is still running, so it has no report yet; "
                "end it with `harness gameday end` or wait for recovery"
            )
        raise InvalidInput(
            f"rehearsal {rehearsal.id} has no report ({status.value}); see {rehearsal.folder}/watcher.log"
        )
    click.echo(path.read_text())
    return PASSED


@gameday.command("_watch", hidden=True)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--scenario", required=True)
@click.option("--hidden", is_flag=True)
@click.option("--time-limit", type=float, required=True)
@click.option("--streak", type=int, default=3)
@click.option("--site", "site_dir", default=None)
def watch_command(
    folder: Path, scenario: str, hidden: bool, time_limit: float, streak: int, site_dir: str | None
) -> int:
    """The rehearsal's watcher process (started by `gameday start`)."""
    rehearsal = Rehearsal(folder)
    with Session(site=load_site(site_dir) if site_dir else None) as session:
        state = Watcher(rehearsal, session, WatchOptions(scenario, hidden, time_limit, streak)).run()
    return PASSED if state.status is Status.RECOVERED else VERDICT_FAILED


# -- helpers ------------------------------------------------------------------


def _exit(status: Status) -> int:
    return PASSED if status in (Status.RECOVERED, Status.STARTING, Status.BROKEN) else VERDICT_FAILED


def _any_active(root: Path) -> bool:
    return any(r.status.active for r in all_rehearsals(root))


def _latest(root: Path) -> Rehearsal:
    found = all_rehearsals(root)
    if not found:
        raise InvalidInput("no rehearsal has run here yet; start one with `harness gameday start SCENARIO`")
    return found[-1]


def _spawn_watcher(
    rehearsal: Rehearsal, scenario: str, hidden: bool, time_limit: float, streak: int, site: str | None
) -> None:
    argv = [sys.executable, "-m", "harness", "gameday", "_watch", str(rehearsal.folder), "--scenario", scenario]
    argv += ["--time-limit", str(time_limit), "--streak", str(streak), *(["--hidden"] if hidden else [])]
    argv += ["--site", str(Path(site).resolve())] if site else []
    env = {**os.environ, "HARNESS_RUN_ID": _watcher_run_id(rehearsal)}
    with open(rehearsal.folder / "watcher.log", "ab") as log:
        # Its own session: closing the terminal (SIGHUP) or Ctrl-C in the dashboard must not end the rehearsal.
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)


def _wait_until_broken(rehearsal: Rehearsal) -> RehearsalState:
    def broken() -> RehearsalState | None:
        state = rehearsal.read()
        if not state.status.active:
            raise HarnessError(f"the rehearsal could not start: {state.reason or '?'}")
        return state if state.status is Status.BROKEN else None

    state = poll_until(broken, timeout=START_DEADLINE, interval=0.1, what="the fault to go in")
    if state is not None:
        return state
    log = (rehearsal.folder / "watcher.log").read_text(errors="replace").strip().splitlines()[-5:]
    rehearsal.request_end("it did not start in time")
    raise HarnessError(
        f"the rehearsal did not break its target within {START_DEADLINE:g} s; watcher log: {' | '.join(log)}"
    )


def _sweep_abandoned(root: Path, max_age: float) -> None:
    """End rehearsals whose watcher died, or that have run longer than MAX_AGE; remove their targets."""
    for rehearsal in all_rehearsals(root):
        state = rehearsal.read()
        if not state.status.active:
            continue
        watcher = state.watcher
        alive = ownership.owner_alive(watcher.owner if watcher else "") is not False
        started = state.injected_at or state.updated_at
        age = (now() - started).total_seconds() if started else max_age + 1
        if alive and age <= max_age:
            continue
        if alive:
            why = f"it ran longer than {max_age:g} s"
            # A live watcher tears its own target down and writes the report.
            rehearsal.request_end(f"swept as abandoned: {why}")
            if watcher is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(watcher.pid, signal.SIGTERM)
            progress(f"swept abandoned rehearsal {rehearsal.id} ({why}); its watcher is ending it")
            continue
        why = "its watcher process is gone"
        removed = _remove_targets(rehearsal)
        rehearsal.write(state.finished(Status.NOT_RECOVERED, f"abandoned: {why}"))
        progress(f"swept abandoned rehearsal {rehearsal.id} ({why}); removed {len(removed)} target(s)")


def _watcher_run_id(rehearsal: Rehearsal) -> str:
    """The run id the watcher labels its targets with, so a sweep can find them by run."""
    return f"gameday-{rehearsal.id.lower()}"


def _remove_targets(rehearsal: Rehearsal) -> list[Removed]:
    client = engine.connect()
    try:
        return ownership.remove_run(client, _watcher_run_id(rehearsal))
    finally:
        client.close()
