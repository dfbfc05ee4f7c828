"""A rehearsal's state on disk, so it outlives whichever process shows it.

One folder per rehearsal under `.harness/gameday/<id>/`:

    rehearsal.json   written only by the watcher, atomically (write, then rename)
    notes.jsonl      appended by anyone (dashboard, `gameday note`), one JSON line each
    hints.jsonl      appended by `gameday hint`
    end              exists once someone asked to end the rehearsal (its text: why)
    report.md/.json  the postmortem draft, written when the rehearsal ends
    watcher.log      the watcher process's own log

The watcher's state is one frozen `RehearsalState`, turned into JSON and back
only here. Appends take an exclusive lock, so two people noting at once lose
nothing.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.errors import InvalidInput

ROOT_NAME = "gameday"
SEALED = ".sealed.json"
# A field whose metadata says it reveals the scenario: while a hidden rehearsal runs it lives only in the sealed
# file, which status, the dashboard and rehearsal.json never show; the end merges it back.
_REVEALING = {"revealing": True}


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
class ProbeFigures:
    """What monitoring has seen of port 80 since the fault went in."""

    current: str
    detail: str
    samples: int
    failed: int
    availability_pct: float
    symptom: str | None  # the commonest failure; None while none failed (a latent fault)


@dataclass(frozen=True)
class WatcherInfo:
    run_id: str
    pid: int
    owner: str


@dataclass(frozen=True)
class RehearsalState:
    """Everything the watcher knows about a rehearsal; replaced whole (dataclasses.replace), never mutated."""

    id: str
    status: Status = Status.STARTING
    scenario: str | None = field(default=None, metadata=_REVEALING)
    hidden: bool = False
    time_limit_s: float | None = None
    streak: int | None = None
    watcher: WatcherInfo | None = None
    summary: str | None = field(default=None, metadata=_REVEALING)
    cause: str | None = field(default=None, metadata=_REVEALING)
    declared_symptom: str | None = field(default=None, metadata=_REVEALING)
    target: str | None = None
    site: str | None = None  # the --site tree rehearsed on (None: harness's own test server)
    url: str | None = None
    shell: str | None = None
    injected_at: datetime | None = None
    doctor_before: dict[str, Any] | None = field(default=None, metadata=_REVEALING)
    hints: tuple[str, ...] | None = field(default=None, metadata=_REVEALING)
    hint_count: int = 0
    probe: ProbeFigures | None = None
    detected_at: datetime | None = None
    detected_by: str | None = None
    doctor_now: str | None = field(default=None, metadata=_REVEALING)  # the last examination's cause
    recovered_at: datetime | None = None
    doctor_after: dict[str, Any] | None = None
    reason: str | None = None
    ended_at: datetime | None = None
    torn_down_at: datetime | None = None
    updated_at: datetime | None = None

    def finished(self, status: Status, reason: str) -> RehearsalState:
        return dataclasses.replace(self, status=status, reason=reason, ended_at=now())

    # -- the one place it becomes JSON and back ----------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the fields not known yet (a reader tells 'not yet' by absence)."""
        return {
            f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if getattr(self, f.name) is not None
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RehearsalState:
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        values["status"] = Status(values.get("status", Status.STARTING.value))
        for name in ("injected_at", "detected_at", "recovered_at", "ended_at", "torn_down_at", "updated_at"):
            if values.get(name) is not None:
                values[name] = parse_iso(values[name])
        if values.get("probe") is not None:
            values["probe"] = ProbeFigures(**values["probe"])
        if values.get("watcher") is not None:
            values["watcher"] = WatcherInfo(**values["watcher"])
        if values.get("hints") is not None:
            values["hints"] = tuple(values["hints"])
        return cls(**values)

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(what participants may see, what stays sealed): all in the first while nothing needs hiding."""
        whole = self.to_dict()
        if not (self.hidden and self.status.active):
            return whole, {}
        revealing = {f.name for f in dataclasses.fields(self) if f.metadata.get("revealing")}
        return (
            {k: v for k, v in whole.items() if k not in revealing},
            {k: v for k, v in whole.items() if k in revealing},
        )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, StrEnum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


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
    def read(self, unseal: bool = False) -> RehearsalState:
        """The state as participants may see it; UNSEAL adds what a hidden rehearsal keeps sealed (for hints)."""
        data = self._load("rehearsal.json", {"id": self.id})
        if unseal:
            data.update(self._load(SEALED, {}))
        try:
            return RehearsalState.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"rehearsal {self.id}: its state file does not hold a rehearsal ({exc})") from None

    def _load(self, name: str, missing: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(json.loads((self.folder / name).read_text()))
        except FileNotFoundError:
            return missing
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"rehearsal {self.id}: its state file {name} cannot be read ({exc})") from None

    def write(self, state: RehearsalState) -> None:
        shown, sealed = state.split()
        if sealed:
            self._replace(SEALED, sealed, mode=0o600)
        self._replace("rehearsal.json", shown)
        if not state.status.active:
            (self.folder / SEALED).unlink(missing_ok=True)

    def _replace(self, name: str, data: dict[str, Any], mode: int = 0o644) -> None:
        scratch = self.folder / f".{name.lstrip('.')}.{os.getpid()}"
        scratch.write_text(json.dumps(data, indent=2))
        scratch.chmod(mode)
        scratch.replace(self.folder / name)

    @property
    def status(self) -> Status:
        return self.read().status

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
