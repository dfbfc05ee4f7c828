"""Hints reveal the doctor's findings a step at a time: the cause only in the last one."""

from __future__ import annotations

from pathlib import Path

from harness.doctor import diagnose
from harness.facts import parse_facts
from harness.gameday.hints import hints_for

DATA = Path(__file__).parent / "data"


def test_only_the_last_hint_names_the_cause() -> None:
    diagnosis = diagnose(parse_facts((DATA / "facts-misleading-path.txt").read_text()))
    hints = hints_for(diagnosis)
    assert diagnosis.cause == "site-not-enabled" and len(hints) >= 3
    assert all("site-not-enabled" not in hint for hint in hints[:-1])
    assert hints[-1].startswith("The doctor's conclusion: site-not-enabled")
    assert hints[0].startswith("Not everything alarming is the cause")  # the decoys come first
