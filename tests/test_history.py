"""The results history: appends from many processes, the regression gate, and a bad store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.history import ResultStore, Run
from tests.helpers import run_harness

WRITER = """
import sys
from harness.history import ResultStore, Run
store = ResultStore(__import__("pathlib").Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    store.append(Run("drill", sys.argv[2], "recovered", True, 0.1, 1.0 + i / 1000, 2.0))
"""


def _run(ttr: float | None, passed: bool = True, scenario: str = "missing-symlink", fix: str = "") -> Run:
    kind = "verify-fix" if fix else "drill"
    return Run(kind, scenario, "recovered" if passed else "not-recovered", passed, 0.2, ttr, 3.0, fix=fix)


def test_two_processes_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    store = tmp_path / "results.sqlite"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(store), name, "300"], stderr=subprocess.PIPE, text=True)
        for name in ("writer-a", "writer-b")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    runs = ResultStore(store).runs()
    assert len(runs) == 600
    assert {r.scenario for r in runs} == {"writer-a", "writer-b"}
    assert len({r.id for r in runs}) == 600


def test_regression_is_measured_against_the_median_of_earlier_passed_runs(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.sqlite")
    for ttr in (1.0, 1.2, 0.9, 9.0):
        store.append(_run(ttr))
    store.append(_run(50.0, passed=False))  # a failed run is not part of the baseline...
    store.append(_run(1.5))  # ...and the newest run is judged against the passed ones before it
    key = ("drill", "missing-symlink", "")
    regression = store.regression(key, allowed_pct=20)
    assert regression is not None
    assert regression.median == 1.1 and regression.baseline_runs == 4
    assert regression.slower and round(regression.change_pct) == 36
    assert not store.regression(key, allowed_pct=50).slower  # type: ignore[union-attr]
    assert ResultStore(tmp_path / "other.sqlite").regression(key, 20) is None  # no history, no verdict


def test_history_command_groups_runs_and_fails_on_a_slower_recovery(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    store = ResultStore(path)
    for ttr in (2.0, 2.1, 1.9, 2.0):
        store.append(_run(ttr, scenario="nginx-stopped"))
    for ttr in (1.0, 1.0, 1.0, 3.0):
        store.append(_run(ttr, fix="relink.sh"))
    proc = run_harness("history", "--json", "--fail-if-slower", "50", HARNESS_RESULTS=str(path))
    assert proc.returncode == 1, proc.stderr
    groups = {(g["scenario"], g["fix"]): g for g in json.loads(proc.stdout)["groups"]}
    assert set(groups) == {("nginx-stopped", None), ("missing-symlink", "relink.sh")}
    assert [r["time_to_recover_s"] for r in groups[("nginx-stopped", None)]["runs"]] == [2.0, 2.1, 1.9, 2.0]
    assert groups[("nginx-stopped", None)]["regression"]["slower"] is False
    assert groups[("missing-symlink", "relink.sh")]["regression"]["slower"] is True
    table = run_harness("history", "--scenario", "nginx-stopped", HARNESS_RESULTS=str(path), COLUMNS="160")
    assert table.returncode == 0
    assert "nginx-stopped · drill (4 runs)" in table.stdout and "relink.sh" not in table.stdout


@pytest.mark.docker
def test_drill_records_its_result_and_gates_on_the_stored_median(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    store = ResultStore(path)
    for _ in range(3):
        store.append(_run(0.001, scenario="nginx-stopped"))  # an impossibly fast past
    proc = run_harness("drill", "nginx-stopped", "--fail-if-slower", "100", HARNESS_RESULTS=str(path))
    assert proc.returncode == 1, proc.stderr
    assert "REGRESSED" in proc.stderr
    runs = store.runs(scenario="nginx-stopped")
    assert len(runs) == 4 and runs[-1].verdict == "recovered" and runs[-1].run_id
    assert runs[-1].time_to_recover is not None and runs[-1].time_to_recover > 0.001


def test_corrupted_store_is_one_line_of_bad_input_before_any_target_starts(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    path.write_bytes(b"this is not a database, it is a grocery list\n" * 100)
    for args in (("history",), ("drill", "missing-symlink")):
        proc = run_harness(*args, HARNESS_RESULTS=str(path))
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "not a harness results database" in lines[0], proc.stderr


def test_store_path_that_is_a_directory_is_bad_input(tmp_path: Path) -> None:
    proc = run_harness("history", HARNESS_RESULTS=str(tmp_path))
    assert proc.returncode == 2
    assert "is a directory" in proc.stderr and "Traceback" not in proc.stderr
