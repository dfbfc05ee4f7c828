"""A rehearsal's state on disk, so it outlives whichever process shows it.

One folder per rehearsal under `.harness/gameday/<id>/`:

    rehearsal.json   written only by the watcher, atomically (write, then rename)
    notes.jsonl      appended by anyone (dashboard, `gameday note`), one JSON line each
    hints.jsonl      appended by `gameday hint`
    end              exists once someone asked to end the rehearsal (its text: why)
    report.md/.json  the postmortem draft, written when the rehearsal ends
    watcher.log      the watcher process's own log

Appends take an exclusive lock, so two people noting at once lose nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.errors import InvalidInput

ROOT_NAME = "gameday"
# What would give a hidden scenario away. While a hidden rehearsal runs, these live only in the sealed
# file, which status, the dashboard and rehearsal.json never show; the end merges them back.
REVEALING = ("scenario", "summary", "cause", "hints", "doctor_before", "declared_symptom", "doctor_now")
SEALED = ".sealed.json"


class Status(StrEnum):
    STARTING = "starting"
    BROKEN = "broken"  # the fault is in; people are working on it
    RECOVERED = "recovered"
    NOT_RECOVERED = "not-recovered"  # time limit, or given up
    ERROR = "error"

    @property
    def active(self) -> bool:
        return self in (Status.STARTING, Status.BROKEN)


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class Note:
    at: str
    text: str
    dead_end: bool = False


@dataclass(frozen=True)
class Hint:
    at: str
    number: int
    text: str


class Rehearsal:
    """The folder of one rehearsal; every reader and writer goes through this."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def id(self) -> str:
        return self.folder.name

    @classmethod
    def create(cls, root: Path) -> Rehearsal:
        stamp = now().strftime("%Y%m%d-%H%M%S")
        folder = root / f"{stamp}-{secrets.token_hex(2)}"
        folder.mkdir(parents=True)
        return cls(folder)

    # -- the watcher's state ----------------------------------------------
    def read(self, unseal: bool = False) -> dict[str, Any]:
        """The state as participants may see it; UNSEAL adds what a hidden rehearsal keeps sealed (for hints)."""
        state = self._load("rehearsal.json", {"id": self.id, "status": Status.STARTING.value})
        if unseal:
            state.update(self._load(SEALED, {}))
        return state

    def _load(self, name: str, missing: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(json.loads((self.folder / name).read_text()))
        except FileNotFoundError:
            return missing
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"rehearsal {self.id}: its state file {name} cannot be read ({exc})") from None

    def write(self, state: dict[str, Any]) -> None:
        active = Status(state.get("status", Status.STARTING.value)).active
        if state.get("hidden") and active:
            sealed = {k: v for k, v in state.items() if k in REVEALING}
            self._replace(SEALED, sealed, mode=0o600)
            state = {k: v for k, v in state.items() if k not in REVEALING}
        self._replace("rehearsal.json", state)
        if not active:
            (self.folder / SEALED).unlink(missing_ok=True)

    def _replace(self, name: str, data: dict[str, Any], mode: int = 0o644) -> None:
        scratch = self.folder / f".{name.lstrip('.')}.{os.getpid()}"
        scratch.write_text(json.dumps(data, indent=2, default=str))
        scratch.chmod(mode)
        scratch.replace(self.folder / name)

    @property
    def status(self) -> Status:
        return Status(self.read().get("status", Status.STARTING.value))

    # -- notes, hints, the end request -----------------------------------------
    def _append(self, name: str, record: dict[str, Any]) -> None:
        with open(self.folder / name, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps(record) + "\n")

    def _lines(self, name: str) -> list[dict[str, Any]]:
        try:
            text = (self.folder / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def add_note(self, text: str, dead_end: bool = False) -> Note:
        text = " ".join(text.split())
        if not text:
            raise InvalidInput("a note needs some text, e.g. harness gameday note 'checked the DB pool'")
        note = Note(iso(now()), text[:500], dead_end)
        self._append("notes.jsonl", {"at": note.at, "text": note.text, "dead_end": note.dead_end})
        return note

    def notes(self) -> list[Note]:
        return [Note(n["at"], n["text"], bool(n.get("dead_end"))) for n in self._lines("notes.jsonl")]

    def add_hint(self, number: int, text: str) -> Hint:
        hint = Hint(iso(now()), number, text)
        self._append("hints.jsonl", {"at": hint.at, "number": number, "text": text})
        return hint

    def hints(self) -> list[Hint]:
        return [Hint(h["at"], int(h["number"]), h["text"]) for h in self._lines("hints.jsonl")]

    def request_end(self, why: str) -> None:
        (self.folder / "end").write_text(why)

    def end_requested(self) -> str | None:
        try:
            return (self.folder / "end").read_text() or "ended"
        except FileNotFoundError:
            return None

    def report_path(self, suffix: str = "md") -> Path:
        return self.folder / f"report.{suffix}"


def root_folder(results: Path) -> Path:
    """Rehearsals live next to the results history (.harness/ by default)."""
    return results.parent / ROOT_NAME


def all_rehearsals(root: Path) -> list[Rehearsal]:
    if not root.is_dir():
        return []
    return [Rehearsal(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]


def find(root: Path, wanted: str | None) -> Rehearsal:
    """The rehearsal named WANTED (an id or its unique prefix), or the one still running."""
    found = all_rehearsals(root)
    if wanted:
        matches = [r for r in found if r.id.startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(r.id for r in found[-5:]) or "none"
        raise InvalidInput(f"no single rehearsal matches {wanted!r}; recent ones: {known}")
    active = [r for r in found if r.status.active]
    if len(active) == 1:
        return active[0]
    if not active:
        raise InvalidInput("no rehearsal is running; start one with `harness gameday start SCENARIO`")
    listing = ", ".join(r.id for r in active)
    raise InvalidInput(f"{len(active)} rehearsals are running ({listing}); name one with --id")
