"""The rehearsal's state: one typed object, serialised in one place, sealed while a hidden rehearsal runs."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest

from harness.errors import InvalidInput
from harness.gameday.state import ProbeFigures, Rehearsal, RehearsalState, Status, WatcherInfo, now


def _broken(rehearsal: Rehearsal, hidden: bool) -> RehearsalState:
    injected = now() - timedelta(seconds=30)
    return RehearsalState(
        rehearsal.id,
        Status.BROKEN,
        scenario="missing-symlink",
        hidden=hidden,
        time_limit_s=1800.0,
        streak=3,
        watcher=WatcherInfo("run-1", 4242, "host:4242:1"),
        summary="the sites-enabled link went away",
        cause="site-not-enabled",
        hints=("Look at the configuration: …", "The doctor's conclusion: …"),
        hint_count=2,
        injected_at=injected,
        detected_at=injected + timedelta(seconds=1.5),
        probe=ProbeFigures(
            "refused", "connection reset", samples=60, failed=58, availability_pct=3.33, symptom="refused"
        ),
    )


def test_the_state_survives_the_disk_unchanged(tmp_path: Path) -> None:
    rehearsal = Rehearsal.create(tmp_path)
    state = _broken(rehearsal, hidden=False)
    rehearsal.write(state)
    back = rehearsal.read()
    assert back.injected_at is not None and state.injected_at is not None
    assert abs((back.injected_at - state.injected_at).total_seconds()) < 0.001  # kept to the millisecond
    assert dataclasses.replace(back, injected_at=state.injected_at, detected_at=state.detected_at) == state
    document = json.loads((rehearsal.folder / "rehearsal.json").read_text())
    assert document["status"] == "broken" and "recovered_at" not in document  # not yet known: absent


def test_a_hidden_rehearsal_keeps_what_reveals_the_scenario_sealed_until_it_ends(tmp_path: Path) -> None:
    rehearsal = Rehearsal.create(tmp_path)
    state = _broken(rehearsal, hidden=True)
    rehearsal.write(state)
    shown = (rehearsal.folder / "rehearsal.json").read_text()
    assert "missing-symlink" not in shown and "site-not-enabled" not in shown and "conclusion" not in shown
    seen = rehearsal.read()
    assert seen.scenario is None and seen.cause is None and seen.hints is None
    assert seen.hint_count == 2 and seen.probe == state.probe  # what participants may see stays
    assert rehearsal.read(unseal=True).cause == "site-not-enabled"

    rehearsal.write(state.finished(Status.RECOVERED, "port 80 serves again"))
    ended = rehearsal.read()
    assert ended.scenario == "missing-symlink" and ended.ended_at is not None  # revealed at the end
    assert not any(p.name.startswith(".sealed") for p in rehearsal.folder.iterdir())


def test_a_state_file_that_is_not_a_rehearsal_is_one_clear_error(tmp_path: Path) -> None:
    rehearsal = Rehearsal.create(tmp_path)
    (rehearsal.folder / "rehearsal.json").write_text('{"id": "x", "status": "sleeping"}')
    with pytest.raises(InvalidInput, match="does not hold a rehearsal"):
        rehearsal.read()
