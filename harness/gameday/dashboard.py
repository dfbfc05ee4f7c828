"""The live terminal dashboard of a rehearsal: a view of the state on disk, plus a note prompt.

It owns nothing: closing it leaves the rehearsal running, and `gameday attach`
opens another. Lines typed into it become notes ("!" marks a dead end), "?"
takes a hint, "/end" gives up, "/quit" detaches.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.gameday.state import Hint, Rehearsal, RehearsalState, Status, now

NOTES_SHOWN = 5
HELP = 'type a note + Enter · "!note" marks a dead end · "?" hint · "/end" give up · "/quit" leave it running'


def take_hint(rehearsal: Rehearsal) -> Hint | None:
    """The next unused hint, recorded on the timeline; None when all are used or none exist yet."""
    available = rehearsal.read(unseal=True).hints or ()
    used = len(rehearsal.hints())
    if used >= len(available):
        return None
    return rehearsal.add_hint(used + 1, available[used])


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(max(seconds, 0)), 60)
    return f"{minutes:02d}:{rest:02d}"


def render(rehearsal: Rehearsal, state: RehearsalState, message: str = "") -> Panel:
    status, probe, injected = state.status, state.probe, state.injected_at
    elapsed = ((state.ended_at or now()) - injected).total_seconds() if injected else 0.0
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    limit = state.time_limit_s
    grid.add_row("elapsed", f"{_clock(elapsed)}" + (f"  (limit {_clock(limit)})" if limit else ""))
    current = probe.current if probe else "waiting"
    style = "bold green" if current == "ok" else "bold red"
    grid.add_row("port 80", Text(f"{current.upper()}  {probe.detail if probe else ''}", style=style))
    if probe:
        grid.add_row("availability", f"{probe.availability_pct:.1f} % of {probe.samples} probes ok")
    detected = state.detected_at
    if detected and injected:
        after = (detected - injected).total_seconds()
        grid.add_row("detected", Text(f"{detected:%H:%M:%S} UTC (+{after:.1f} s) {state.detected_by or ''}"))
    else:
        grid.add_row("detected", "not yet")
    grid.add_row("root shell", Text(state.shell or "…", style="cyan"))
    grid.add_row("hints used", f"{len(rehearsal.hints())} of {state.hint_count}")
    notes = rehearsal.notes()[-NOTES_SHOWN:]
    grid.add_row(
        "notes", Text("\n".join(f"{n.at[11:19]}  {n.text}{'  (dead end)' if n.dead_end else ''}" for n in notes) or "—")
    )
    parts: list[Any] = [grid]
    if message:
        parts += [Text(""), Text(message, style="yellow")]
    if status.active:
        parts += [Text(""), Text(HELP, style="dim")]
    else:
        reveal = f"{state.scenario} ({state.cause}): {state.summary or ''}"
        parts += [
            Text(""),
            Text(
                f"{status.value.upper()}: {state.reason or ''}",
                style="bold green" if status is Status.RECOVERED else "bold red",
            ),
            Text(f"the scenario was {reveal}"),
            Text(f"postmortem draft: {rehearsal.report_path('md')}"),
        ]
    scenario = "hidden" if state.hidden and status.active else (state.scenario or "?")
    return Panel(Group(*parts), title=f"game day {rehearsal.id} · scenario: {scenario}", title_align="left")


def _read_lines(stream: TextIO, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)  # end of input: keep showing, stop reading


def _handle(rehearsal: Rehearsal, line: str) -> tuple[str, bool]:
    """Act on one typed line; returns a message and whether to detach."""
    line = line.strip()
    if not line:
        return "", False
    if line in ("/quit", "/q"):
        return "detached", True
    if line == "/end":
        rehearsal.request_end("given up from the dashboard")
        return "ending the rehearsal…", False
    if line == "?":
        hint = take_hint(rehearsal)
        return (f"Hint {hint.number}: {hint.text}" if hint else "no more hints"), False
    dead_end = line.startswith("!")
    note = rehearsal.add_note(line.lstrip("!"), dead_end=dead_end)
    return f"noted{' as a dead end' if dead_end else ''}: {note.text}", False


def run_dashboard(rehearsal: Rehearsal, console: Console, stream: TextIO = sys.stdin) -> Status:
    """Show the rehearsal until it ends or the user detaches; returns its status then."""
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(stream, lines), daemon=True, name="harness-dashboard-input").start()
    message = ""
    with Live(render(rehearsal, rehearsal.read()), console=console, refresh_per_second=2) as live:
        while True:
            detach = False
            while not lines.empty():
                line = lines.get()
                if line is not None:
                    message, detach = _handle(rehearsal, line)
            state = rehearsal.read()
            live.update(render(rehearsal, state, message))
            status = state.status
            if detach or not status.active:
                return status
            time.sleep(0.25)
