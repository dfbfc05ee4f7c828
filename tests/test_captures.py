"""The captured facts the no-Docker doctor tests read were made by the programs harness ships today."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.doctor import script_digest

DATA = Path(__file__).parent / "data"
CAPTURES = sorted(DATA.glob("facts-*.txt"))


def _digest(path: Path) -> str:
    for line in path.read_text().splitlines()[:2]:
        if line.startswith("# script: "):
            return line.removeprefix("# script: ").strip()
    return "(none: captured before captures named their programs)"


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_every_capture_was_made_by_the_shipped_gathering_programs(path: Path) -> None:
    assert _digest(path) == script_digest(), (
        f"{path.name} was captured by other programs than the ones harness ships: "
        "recapture with .venv/bin/python tests/data/capture_facts.py"
    )


def test_captures_exist() -> None:
    assert len(CAPTURES) >= 20
