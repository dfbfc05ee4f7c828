"""The results history: appends from many processes, the regression gate, and a bad store."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from harness.history import UNKNOWN_SITE, ResultStore, Run
from harness.site import load_site
from tests.helpers import run_harness, validated

WRITER = """
import sys
from harness.history import UNKNOWN_SITE, ResultStore, Run
from harness.site import load_site
store = ResultStore(__import__("pathlib").Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    store.append(Run("drill", sys.argv[2], "recovered", True, 0.1, 1.0 + i / 1000, 2.0))
"""


def _run(
    ttr: float | None,
    passed: bool = True,
    scenario: str = "missing-symlink",
    fix: str = "",
    site: str = "",
    image: str = "harness-nginx:1",
) -> Run:
    kind = "verify-fix" if fix else "drill"
    verdict = "recovered" if passed else "not-recovered"
    return Run(kind, scenario, verdict, passed, 0.2, ttr, 3.0, fix=fix, site=site, site_name="shop", image=image)


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
    key = ("drill", "missing-symlink", "", "", "harness-nginx:1")
    regression = store.regression(key, allowed_pct=20)
    assert regression is not None
    assert regression.median == 1.1 and regression.baseline_runs == 4
    assert regression.slower and round(regression.change_pct) == 36
    assert not store.regression(key, allowed_pct=50).slower  # type: ignore[union-attr]
    assert ResultStore(tmp_path / "other.sqlite").regression(key, 20) is None  # no history, no verdict


def test_the_median_is_taken_over_runs_of_the_same_site_and_image_only(tmp_path: Path) -> None:
    """Issue 22 item 11: a run on the test server was judged against a median taken mostly from other sites."""
    store = ResultStore(tmp_path / "results.sqlite")
    for _ in range(5):
        store.append(_run(10.0, site="a1b2c3d4e5f60718"))  # a slow site
        store.append(_run(1.0, image="harness-nginx:2"))  # the test server on another image
    for ttr in (1.0, 1.1, 0.9):
        store.append(_run(ttr))
    latest = store.append(_run(2.5))  # the test server on image 1: slower than its own past, not than the site's
    regression = store.regression(("drill", "missing-symlink", "", "", "harness-nginx:1"), 50, latest_id=latest)
    assert regression is not None
    assert (regression.median, regression.baseline_runs) == (1.0, 3)
    assert regression.slower
    site_key = ("drill", "missing-symlink", "", "a1b2c3d4e5f60718", "harness-nginx:1")
    assert store.regression(site_key, 50) is not None and not store.regression(site_key, 50).slower  # type: ignore[union-attr]
    assert "on site a1b2c3d4" in store.regression(site_key, 50).line()  # type: ignore[union-attr]


def test_a_schema_1_history_is_migrated_and_its_runs_never_join_a_new_baseline(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:  # the schema harness wrote before the site column
        db.executescript(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, kind TEXT NOT NULL,"
            " scenario TEXT NOT NULL, fix TEXT NOT NULL DEFAULT '', fix_sha256 TEXT NOT NULL DEFAULT '',"
            " verdict TEXT NOT NULL, passed INTEGER NOT NULL, time_to_detect REAL, time_to_recover REAL,"
            " duration REAL, run_id TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '{}');"
            "PRAGMA user_version = 1;"
        )
        for _ in range(4):
            db.execute(
                "INSERT INTO runs (recorded_at, kind, scenario, verdict, passed, time_to_recover, detail)"
                " VALUES ('2026-01-01T00:00:00+00:00', 'drill', 'missing-symlink', 'recovered', 1, 0.001, ?)",
                ('{"image": "harness-nginx:1"}',),
            )
    store = ResultStore(path)
    latest = store.append(_run(1.0))
    old = store.runs()[0]
    assert (old.site, old.image) == (UNKNOWN_SITE, "harness-nginx:1")
    assert "site unknown" in old.where
    assert store.regression(_run(1.0).key, 10, latest_id=latest) is None  # four old runs, but none comparable


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
    assert "harness's test server · image harness-nginx:1" in table.stdout


@pytest.mark.docker
def test_drill_records_its_result_and_gates_on_the_stored_median(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    store = ResultStore(path)
    image = run_harness("image").stdout.split()[0]  # the past must be on the image the drill runs on
    for _ in range(3):
        store.append(_run(0.001, scenario="nginx-stopped", image=image))  # an impossibly fast past
    store.append(_run(0.001, scenario="nginx-stopped", site="0123456789abcdef", image=image))  # another site's
    proc = run_harness("drill", "nginx-stopped", "--fail-if-slower", "100", HARNESS_RESULTS=str(path))
    assert proc.returncode == 1, proc.stderr
    assert "REGRESSED" in proc.stderr
    runs = store.runs(scenario="nginx-stopped")
    assert len(runs) == 5 and runs[-1].verdict == "recovered" and runs[-1].run_id
    assert "of 3 earlier runs" in proc.stderr  # the other site's run is not in the median
    assert runs[-1].time_to_recover is not None and runs[-1].time_to_recover > 0.001
    assert runs[-1].site == "" and runs[-1].image == image  # the test server, on its image


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


def test_a_site_is_keyed_by_what_its_tree_says_not_by_when_it_was_copied(tmp_path: Path) -> None:
    original = Path(__file__).parent / "sites" / "vhosts"
    copy = tmp_path / "vhosts"
    shutil.copytree(original, copy, symlinks=True)  # new mtimes, same content
    first = copy / "sites-available" / "example.org"
    os.utime(first, (1, 1))
    assert load_site(copy).digest == load_site(original).digest
    first.write_text(first.read_text() + "\n# a comment is a change of the tree\n")
    assert load_site(copy).digest != load_site(original).digest


def test_history_site_shows_that_tree_alone(tmp_path: Path) -> None:
    tree = Path(__file__).parent / "sites" / "vhosts"
    path = tmp_path / "results.sqlite"
    store = ResultStore(path)
    store.append(_run(1.0, scenario="nginx-stopped", site=load_site(tree).digest))
    store.append(_run(1.0, scenario="nginx-stopped"))
    proc = run_harness("history", "--json", "--site", str(tree), HARNESS_RESULTS=str(path))
    assert proc.returncode == 0, proc.stderr
    (only,) = validated(proc.stdout, "history")["groups"]
    assert only["site"] == load_site(tree).digest and only["site_label"].startswith("site shop (")
