"""A drill's Chaos Toolkit journal: the structure chaostoolkit-lib writes, and an experiment it accepts."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from chaoslib.experiment import ensure_experiment_is_valid

from harness.cli import PASSED
from tests.helpers import run_harness, single_drill, validated

# Written by `chaos run` (chaostoolkit-lib 1.44) for bench/chaostoolkit/experiment.json; tracebacks trimmed.
REFERENCE = json.loads((Path(__file__).parent / "data" / "chaostoolkit-journal.json").read_text())
FIXES = Path(__file__).parent / "fixes"


def _entry_keys(entry: dict[str, Any]) -> set[str]:
    return set(entry) - {"exception"}  # only failed entries carry one


def _assert_shaped_like_chaos_toolkit(journal: dict[str, Any]) -> None:
    assert set(journal) == set(REFERENCE)
    assert set(REFERENCE["experiment"]) - {"configuration"} <= set(journal["experiment"])
    ensure_experiment_is_valid(journal["experiment"])
    assert set(journal["steady_states"]) == {"before", "after", "during"}
    probe_keys = _entry_keys(REFERENCE["steady_states"]["before"]["probes"][0])
    run_keys = _entry_keys(REFERENCE["run"][0])
    for state in ("before", "after"):
        assert set(journal["steady_states"][state]) == set(REFERENCE["steady_states"][state])
        for probe in journal["steady_states"][state]["probes"]:
            assert _entry_keys(probe) == probe_keys
    for entry in [*journal["run"], *journal["rollbacks"]]:
        assert _entry_keys(entry) == run_keys
    entries = [
        *journal["steady_states"]["before"]["probes"],
        *journal["run"],
        *journal["rollbacks"],
        *journal["steady_states"]["after"]["probes"],
    ]
    starts = [datetime.fromisoformat(e["start"]) for e in entries]
    assert starts == sorted(starts), "entries in the order they ran"
    assert datetime.fromisoformat(journal["start"]) <= starts[0]
    assert datetime.fromisoformat(journal["end"]) >= datetime.fromisoformat(entries[-1]["end"])
    for entry in entries:
        took = datetime.fromisoformat(entry["end"]) - datetime.fromisoformat(entry["start"])
        assert entry["duration"] == pytest.approx(took.total_seconds(), abs=1e-5)


@pytest.mark.docker
def test_a_drill_writes_a_journal_with_chaos_toolkits_structure(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    done = run_harness("drill", "missing-symlink", "--journal", str(path), "--json")
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    journal = json.loads(path.read_text())
    _assert_shaped_like_chaos_toolkit(journal)
    assert (journal["status"], journal["deviated"]) == ("completed", False)
    assert [e["activity"]["name"] for e in journal["run"]] == [
        "inject-missing-symlink",
        "detect-from-outside",
        "diagnose-blind",
    ]
    assert journal["run"][2]["output"]["cause"] == "site-not-enabled"
    assert journal["rollbacks"][0]["activity"]["name"] == "repair-site-not-enabled"
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert journal["steady_states"]["after"]["steady_state_met"] is True
    (harness,) = journal["experiment"]["extensions"]
    assert harness["name"] == "harness" and harness["passed"] is True
    assert harness["time_to_detect_s"] == pytest.approx(result["times"]["time_to_detect_s"], abs=1e-3)
    assert harness["time_to_recover_s"] == pytest.approx(result["times"]["time_to_recover_s"], abs=1e-3)
    assert harness["diagnosis"]["cause"] == result["observed"]["diagnosis"]["cause"]


@pytest.mark.docker
def test_a_failing_fix_journal_deviates_and_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "fix.json"
    done = run_harness("verify-fix", "nginx-stopped", str(FIXES / "no-restart.sh"), "--journal", str(path), "--json")
    report = validated(done.stdout, "verify-fix")
    assert done.returncode == 1 and not report["passed"], done.stderr
    journal = json.loads(path.read_text())
    _assert_shaped_like_chaos_toolkit(journal)
    assert (journal["status"], journal["deviated"]) == ("failed", True)
    assert journal["steady_states"]["after"]["steady_state_met"] is False
    rollback = journal["rollbacks"][0]["activity"]
    assert rollback["name"] == "fix-no-restart.sh" and rollback["provider"]["path"] == "docker"
    (harness,) = journal["experiment"]["extensions"]
    assert harness["fix"]["passed"] is False
    assert {c["name"] for c in harness["fix"]["checks"]} >= {"restores"}
