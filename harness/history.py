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

SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30.0
MIN_BASELINE = 3  # earlier runs needed before a median means anything
# The site of a run recorded before the history kept sites (schema 1): it matches no new run, so such runs never
# enter a new run's baseline, which might otherwise be taken from another site's runs.
UNKNOWN_SITE = "?"

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
    detail          TEXT NOT NULL DEFAULT '{}',
    site            TEXT NOT NULL DEFAULT '',
    site_name       TEXT NOT NULL DEFAULT '',
    image           TEXT NOT NULL DEFAULT ''
)
"""
# Schema 1 had no site and no image: its rows get the unknown site, and the image their detail recorded.
_SINCE_1 = (
    "ALTER TABLE runs ADD COLUMN site TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE runs ADD COLUMN site_name TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE runs ADD COLUMN image TEXT NOT NULL DEFAULT ''",
    f"UPDATE runs SET site = '{UNKNOWN_SITE}'",
)
_INDEX = "CREATE INDEX IF NOT EXISTS runs_by_site ON runs (kind, scenario, fix, site, image, id)"
_COLUMNS = (
    "id, recorded_at, kind, scenario, fix, fix_sha256, verdict, passed, time_to_detect, time_to_recover, duration,"
    " run_id, detail, site, site_name, image"
)


Key = tuple[str, str, str, str, str]  # kind, scenario, fix, site digest, image: runs that compare like with like


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
    site: str = ""  # the digest of the --site tree (Site.digest); "": harness's own test server
    site_name: str = ""  # the tree's folder name, for people; the digest is what compares
    image: str = ""

    @property
    def key(self) -> Key:
        return (self.kind, self.scenario, self.fix, self.site, self.image)

    @property
    def label(self) -> str:
        return f"{self.scenario} · fix {self.fix}" if self.fix else f"{self.scenario} · drill"

    @property
    def where(self) -> str:
        """The site and image, for people: 'site shop (3f2a9c01) · image harness-nginx:…'."""
        return f"{site_label(self.site, self.site_name)} · image {self.image or '?'}"


def site_label(site: str, site_name: str) -> str:
    if site == UNKNOWN_SITE:
        return "site unknown (recorded before the history kept sites)"
    if not site:
        return "harness's test server"
    return f"site {site_name or '?'} ({site[:8]})"


@dataclass(frozen=True)
class Regression:
    """The newest run's time to recover against the median of the runs before it."""

    key: Key
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
        if self.key[3]:
            label += f" on site {self.key[3][:8]}"
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
            _upgrade(connection)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _upgrade(connection: sqlite3.Connection) -> None:
    """Create or migrate under one write lock, re-reading the version inside it: two processes upgrading at once
    leave one schema, not two ALTERs of the same column."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        exists = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone()
        if version < SCHEMA_VERSION:
            if exists and version == 1:
                for statement in _SINCE_1:
                    connection.execute(statement)
                for row_id, detail in connection.execute("SELECT id, detail FROM runs").fetchall():
                    image = _image_of(detail)
                    if image:
                        connection.execute("UPDATE runs SET image = ? WHERE id = ?", (image, row_id))
            else:
                connection.execute(_SCHEMA)
            connection.execute(_INDEX)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _image_of(detail: str) -> str:
    try:
        data = json.loads(detail)
    except ValueError:
        return ""
    return str(data.get("image") or "") if isinstance(data, dict) else ""


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
                f"INSERT INTO runs ({_COLUMNS.removeprefix('id, ')}) VALUES ({', '.join('?' * 15)})",
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
                    run.site,
                    run.site_name,
                    run.image,
                ),
            )
            return int(cursor.lastrowid or 0)

    def runs(
        self,
        scenario: str | None = None,
        fix: str | None = None,
        kind: str | None = None,
        site: str | None = None,
        image: str | None = None,
        since: str | None = None,
    ) -> list[Run]:
        """Matching runs, oldest first (SINCE: an ISO 8601 UTC time, runs recorded at or after it)."""
        clauses, params = [], []
        for column, value in (("scenario", scenario), ("fix", fix), ("kind", kind), ("site", site), ("image", image)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("recorded_at >= ?")
            params.append(since)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM runs{where} ORDER BY id", params).fetchall()
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
                site=row[13],
                site_name=row[14],
                image=row[15],
            )
            for row in rows
        ]

    def regression(self, key: Key, allowed_pct: float, latest_id: int | None = None) -> Regression | None:
        """The newest run of KEY (or run LATEST_ID) against the median of the passed runs before it on the same
        site and image.

        None when there is no time to compare or fewer than MIN_BASELINE earlier runs.
        """
        kind, scenario, fix, site, image = key
        runs = self.runs(scenario=scenario, fix=fix, kind=kind, site=site, image=image)
        if latest_id is not None:
            runs = [r for r in runs if r.id <= latest_id]
        latest = runs[-1].time_to_recover if runs else None
        if latest is None:
            return None
        return judge(key, latest, runs[:-1], allowed_pct)


def judge(key: Key, latest: float, before: list[Run], allowed_pct: float) -> Regression | None:
    """LATEST against the median of the passed runs in BEFORE (runs of KEY); None without MIN_BASELINE of them."""
    earlier = [r.time_to_recover for r in before if r.passed and r.time_to_recover is not None]
    if len(earlier) < MIN_BASELINE:
        return None
    return Regression(key, latest, statistics.median(earlier), len(earlier), allowed_pct)


def group(runs: list[Run]) -> dict[Key, list[Run]]:
    grouped: dict[Key, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.key, []).append(run)
    return grouped


def detail_json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)
