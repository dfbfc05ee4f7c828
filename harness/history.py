"""The results history: every drill and verify-fix, appended to one SQLite file.

SQLite in WAL mode with a generous busy timeout lets several harness
processes (two CI jobs, xdist workers) append at once without losing a row:
each result is one INSERT in its own short transaction. The file lives in the
project (`.harness/results.sqlite`) unless HARNESS_RESULTS names another.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import InvalidInput

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
MIN_BASELINE = 3  # earlier runs needed before a median means anything

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id              INTEGER PRIMARY KEY,
    recorded_at     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    scenario        TEXT NOT NULL,
    fix             TEXT NOT NULL DEFAULT '',
    fix_sha256      TEXT NOT NULL DEFAULT '',
    verdict         TEXT NOT NULL,
    passed          INTEGER NOT NULL,
    time_to_detect  REAL,
    time_to_recover REAL,
    duration        REAL,
    run_id          TEXT NOT NULL DEFAULT '',
    detail          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_by_key ON runs (kind, scenario, fix, id);
"""


@dataclass(frozen=True)
class Run:
    kind: str  # "drill" or "verify-fix"
    scenario: str
    verdict: str
    passed: bool
    time_to_detect: float | None
    time_to_recover: float | None
    duration: float | None
    run_id: str = ""
    fix: str = ""
    fix_sha256: str = ""
    recorded_at: str = ""
    id: int = 0
    detail: str = "{}"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.scenario, self.fix)

    @property
    def label(self) -> str:
        return f"{self.scenario} · fix {self.fix}" if self.fix else f"{self.scenario} · drill"


@dataclass(frozen=True)
class Regression:
    """The newest run's time to recover against the median of the runs before it."""

    key: tuple[str, str, str]
    latest: float
    median: float
    baseline_runs: int
    allowed_pct: float

    @property
    def change_pct(self) -> float:
        return (self.latest / self.median - 1.0) * 100.0 if self.median > 0 else 0.0

    @property
    def slower(self) -> bool:
        return self.change_pct > self.allowed_pct

    def line(self) -> str:
        label = f"{self.key[1]}" + (f" (fix {self.key[2]})" if self.key[2] else "")
        verdict = "REGRESSED" if self.slower else "ok"
        return (
            f"{label}: time to recover {self.latest:.3f} s vs median {self.median:.3f} s of {self.baseline_runs} "
            f"earlier runs ({self.change_pct:+.0f} %, allowed +{self.allowed_pct:g} %): {verdict}"
        )


def _create(connection: sqlite3.Connection) -> None:
    """Make the schema, also when another process is making it at the same moment.

    Switching to WAL takes an exclusive lock for which SQLite does not wait
    (it says "database is locked" at once), so the first use by two processes
    started together retries until the other one is done.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class ResultStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        where = f"results store {str(self.path)!r}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise InvalidInput(f"{where} cannot be opened ({exc}); set HARNESS_RESULTS to a writable file") from None
        with closing(connection):
            try:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise InvalidInput(f"{where} was written by a newer harness (schema {version}); upgrade harness")
                if version < SCHEMA_VERSION:
                    _create(connection)
                yield connection
            except sqlite3.DatabaseError as exc:
                raise InvalidInput(
                    f"{where} is unreadable or not a harness results database ({exc}); "
                    "move it aside or set HARNESS_RESULTS to another file"
                ) from None

    def append(self, run: Run) -> int:
        recorded = run.recorded_at or datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (recorded_at, kind, scenario, fix, fix_sha256, verdict, passed, time_to_detect,"
                " time_to_recover, duration, run_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    recorded,
                    run.kind,
                    run.scenario,
                    run.fix,
                    run.fix_sha256,
                    run.verdict,
                    int(run.passed),
                    run.time_to_detect,
                    run.time_to_recover,
                    run.duration,
                    run.run_id,
                    run.detail,
                ),
            )
            return int(cursor.lastrowid or 0)

    def runs(self, scenario: str | None = None, fix: str | None = None, kind: str | None = None) -> list[Run]:
        """Matching runs, oldest first."""
        clauses, params = [], []
        for column, value in (("scenario", scenario), ("fix", fix), ("kind", kind)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, recorded_at, kind, scenario, fix, fix_sha256, verdict, passed, time_to_detect,"
                f" time_to_recover, duration, run_id, detail FROM runs{where} ORDER BY id",
                params,
            ).fetchall()
        return [
            Run(
                id=row[0],
                recorded_at=row[1],
                kind=row[2],
                scenario=row[3],
                fix=row[4],
                fix_sha256=row[5],
                verdict=row[6],
                passed=bool(row[7]),
                time_to_detect=row[8],
                time_to_recover=row[9],
                duration=row[10],
                run_id=row[11],
                detail=row[12],
            )
            for row in rows
        ]

    def regression(
        self, key: tuple[str, str, str], allowed_pct: float, latest_id: int | None = None
    ) -> Regression | None:
        """The newest run of KEY (or run LATEST_ID) against the median of the passed runs before it.

        None when there is no time to compare or fewer than MIN_BASELINE earlier runs.
        """
        kind, scenario, fix = key
        runs = self.runs(scenario=scenario, fix=fix, kind=kind)
        if latest_id is not None:
            runs = [r for r in runs if r.id <= latest_id]
        latest = runs[-1].time_to_recover if runs else None
        if latest is None:
            return None
        earlier = [r.time_to_recover for r in runs[:-1] if r.passed and r.time_to_recover is not None]
        if len(earlier) < MIN_BASELINE:
            return None
        return Regression(key, latest, statistics.median(earlier), len(earlier), allowed_pct)


def group(runs: list[Run]) -> dict[tuple[str, str, str], list[Run]]:
    grouped: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.key, []).append(run)
    return grouped


def detail_json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)
