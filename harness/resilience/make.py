"""Read the history and write the report, in one call.

`harness report`, `drill --report` and the pytest plugin's `--harness-report` all go through it, so they write the
same thing.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.errors import InvalidInput
from harness.history import ResultStore
from harness.resilience import document, page
from harness.resilience.document import Section
from harness.resilience.score import DEFAULT_TARGET_S

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def since(text: str, now: datetime | None = None) -> str:
    """--since as the history's own time format: an ISO date or time (UTC unless it says), or an age: 30m, 12h,
    7d, 2w."""
    text = text.strip()
    if text[:-1].isdigit() and text[-1:] in _UNITS:
        moment = (now or datetime.now(UTC)) - timedelta(seconds=int(text[:-1]) * _UNITS[text[-1]])
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                f"--since {text!r}: give a date or time (2026-12-01, 2026-12-01T09:00) or an age (12h, 7d, 2w)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def make(
    store: ResultStore,
    out: Path,
    *,
    sections: Collection[Section] | None = None,
    touched_since: str | None = None,
    since: str | None = None,
    scenarios: Collection[str] = (),
    target: float = DEFAULT_TARGET_S,
    slower_pct: float = document.DEFAULT_SLOWER_PCT,
    filters: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[Path]]:
    """Write the report of the drills in STORE into OUT.

    SECTIONS keeps only those sites and images; TOUCHED_SINCE only those with a drill since then (a session's
    sites, with all their history); SINCE and SCENARIOS filter the runs themselves.
    """
    recorded = store.runs(kind="drill", since=since) if store.path.exists() else []
    runs = [r for r in recorded if not scenarios or r.scenario in scenarios]
    wanted = set(sections) if sections is not None else None
    if touched_since is not None:
        touched = {(r.site, r.image) for r in runs if r.recorded_at >= touched_since}
        wanted = touched if wanted is None else wanted & touched
    if wanted is not None:
        runs = [r for r in runs if (r.site, r.image) in wanted]
    built = document.build(runs, target=target, slower_pct=slower_pct, filters=filters)
    return built, page.write(out, built)
