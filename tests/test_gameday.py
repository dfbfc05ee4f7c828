"""Game-day rehearsals end to end: a scripted responder, the time limit, the dashboard in a terminal, sweeps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest
from rich.console import Console

from harness.cli import BAD_INPUT, PASSED
from harness.cli.gameday import parse_duration
from harness.gameday.dashboard import render
from harness.gameday.state import Rehearsal, RehearsalState, Status
from harness.gameday.watch import Watcher, WatchOptions
from harness.session import Session
from tests.helpers import CrashingScenario, containers_of_run, harness_env, run_harness, validated, with_catalogue

RELINK = "ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default && service nginx restart\n"


@pytest.fixture
def results(tmp_path: Path) -> str:
    """Each test gets its own .harness/ folder, so rehearsals of parallel tests never meet."""
    return str(tmp_path / "results.sqlite")


def gameday(results: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_harness("gameday", *args, HARNESS_RESULTS=results, timeout=120, **env)


def status(results: str, rehearsal: str) -> dict[str, Any]:
    proc = gameday(results, "status", "--json", "--id", rehearsal)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def started(proc: subprocess.CompletedProcess[str] | str) -> str:
    text = proc if isinstance(proc, str) else proc.stdout
    return text.split("game day ", 1)[1].split()[0]


def wait_until_over(results: str, rehearsal: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = status(results, rehearsal)
        if state["status"] not in ("starting", "broken"):
            return state
        time.sleep(0.3)
    raise AssertionError(f"rehearsal {rehearsal} was still running after {timeout:g} s")


def repair_through_a_root_shell(target: str) -> None:
    """What a participant does: open the shell the dashboard shows, and fix it there."""
    shell = subprocess.run(["docker", "exec", "-i", target, "bash"], input=RELINK, capture_output=True, text=True)
    assert shell.returncode == 0, shell.stderr


@pytest.mark.docker
def test_a_scripted_rehearsal_writes_the_postmortem(results: str) -> None:
    proc = gameday(results, "start", "misleading-path", "--hide", "--no-dashboard", "--time-limit", "2m")
    assert proc.returncode == 0, proc.stderr
    assert "scenario hidden" in proc.stdout and "misleading-path" not in proc.stdout
    rehearsal = started(proc)
    hidden = status(results, rehearsal)
    assert hidden["status"] == "broken"
    assert not {"scenario", "cause", "doctor_before", "hints"} & set(hidden)  # nothing gives the cause away

    assert gameday(results, "note", "checked the DB pool: fine", "--dead-end").returncode == 0
    time.sleep(0.05)
    assert gameday(results, "note", "sites-enabled is empty").returncode == 0
    hint = gameday(results, "hint")
    assert hint.returncode == 0 and hint.stdout.startswith("Hint 1: ")
    repair_through_a_root_shell(hidden["target"])

    final = wait_until_over(results, rehearsal)
    assert final["status"] == "recovered" and final["scenario"] == "misleading-path"
    report = json.loads(gameday(results, "report", "--json", "--id", rehearsal).stdout)
    kinds = [item["kind"] for item in report["timeline"]]
    assert kinds == ["fault", "detected", "misleading-path", "note", "hint", "resolved"]
    times = [item["at"] for item in report["timeline"]]
    assert times == sorted(times)
    assert [m["text"] for m in report["misleading_paths"]] == ["checked the DB pool: fine"]
    figures, summary = report["figures"], report["summary"]
    assert 0 <= figures["time_to_detect_s"] < figures["time_to_recover_s"]
    assert figures["hints_used"] == 1 and figures["notes"] == 2
    assert 0 < figures["availability_pct"] < 100 and summary["failed_requests_pct"] > 0
    assert summary["recovered"] and summary["symptom"] == "refused"
    assert summary["root_cause"]["cause"] == "site-not-enabled"
    assert report["doctor"]["before"]["cause"] == "site-not-enabled" and report["doctor"]["after"]["cause"] == "healthy"
    markdown = gameday(results, "report", "--id", rehearsal).stdout
    for heading in ("## Issue Summary", "## Timeline (UTC)", "## Root Cause and Resolution", "## Figures"):
        assert heading in markdown
    assert "checked the DB pool: fine — **misleading path**" in markdown
    assert "harness verify-fix misleading-path" in markdown
    page = (Path(results).parent / "gameday" / rehearsal / "report.html").read_text()  # the same, as a page
    assert page.count("<tr data-kind=") == len(kinds) and "<svg" in page and "<script" not in page
    for mark in ("dead end", "note", "hint", "resolved"):
        assert f">{mark}<" in page
    assert containers_of_run(f"gameday-{rehearsal}") == []


@pytest.mark.docker
def test_time_limit_ends_it_not_recovered_and_cleans_up(results: str) -> None:
    proc = gameday(results, "start", "nginx-stopped", "--no-dashboard", "--time-limit", "3s")
    assert proc.returncode == 0, proc.stderr
    rehearsal = started(proc)
    final = wait_until_over(results, rehearsal, timeout=30)
    assert final["status"] == "not-recovered"
    assert "time limit of 3 s ran out" in final["reason"]
    assert containers_of_run(f"gameday-{rehearsal}") == []
    markdown = gameday(results, "report", "--id", rehearsal).stdout
    assert "NOT recovered" in markdown and "| — |" in markdown  # no time to recover


def _terminal(results: str, *args: str) -> pexpect.spawn:
    env = harness_env(HARNESS_RESULTS=results, TERM="xterm-256color")
    return pexpect.spawn(
        sys.executable, ["-m", "harness", "gameday", *args], env=env, encoding="utf-8", timeout=60, dimensions=(50, 150)
    )


@pytest.mark.docker
def test_dashboard_in_a_terminal_takes_notes_detaches_and_reattaches(results: str) -> None:
    screen = _terminal(results, "start", "nginx-stopped", "--time-limit", "90s")
    screen.expect("game day (\\S+) started")
    rehearsal = screen.match.group(1)
    screen.expect("root shell")
    screen.expect("availability")
    screen.sendline("looked at the error log")
    screen.expect("noted: looked at the error log")
    screen.sendline("?")
    screen.expect("Hint 1: ")
    screen.sendline("/quit")
    screen.expect(pexpect.EOF)
    screen.close()
    assert screen.exitstatus == 0

    state = status(results, rehearsal)  # the rehearsal outlived its dashboard
    assert state["status"] == "broken"
    again = _terminal(results, "attach", "--id", rehearsal)
    again.expect("looked at the error log")  # the note is on the reopened dashboard
    subprocess.run(["docker", "exec", state["target"], "service", "nginx", "start"], check=True, capture_output=True)
    again.expect("RECOVERED")
    again.expect("postmortem draft")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0
    assert containers_of_run(f"gameday-{rehearsal}") == []


@pytest.mark.docker
def test_abandoned_rehearsals_are_swept_at_the_next_start(results: str) -> None:
    crashed = started(gameday(results, "start", "nginx-stopped", "--no-dashboard", "--time-limit", "5m"))
    os.kill(status(results, crashed)["watcher"]["pid"], signal.SIGKILL)
    old = started(gameday(results, "start", "nginx-stopped", "--no-dashboard", "--time-limit", "5m"))
    assert containers_of_run(f"gameday-{old}")

    newest = gameday(results, "start", "nginx-stopped", "--no-dashboard", "--time-limit", "5m", "--max-age", "0s")
    assert newest.returncode == 0, newest.stderr
    assert f"swept abandoned rehearsal {crashed} (its watcher process is gone)" in newest.stderr
    assert f"swept abandoned rehearsal {old} (it ran longer than 0 s)" in newest.stderr
    assert containers_of_run(f"gameday-{crashed}") == []
    assert status(results, crashed)["status"] == "not-recovered"
    assert wait_until_over(results, old, timeout=30)["status"] == "not-recovered"
    assert containers_of_run(f"gameday-{old}") == []

    current = started(newest)
    ended = gameday(results, "end", "--id", current)
    assert ended.returncode == 1 and "postmortem draft" in ended.stdout
    assert status(results, current)["reason"] == "ended before recovery: given up (harness gameday end)"
    assert containers_of_run(f"gameday-{current}") == []


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_and_missing_scenario_are_bad_input(results: str) -> None:
    for args in (("start", "nginx-stopped", "--time-limit", "soon"), ("start",), ("note", "x")):
        proc = gameday(results, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


# -- the postmortem of a latent fault -----------------------------------------------------------------


@pytest.mark.docker
def test_a_latent_fault_is_resolved_when_the_doctor_finds_it_healthy_not_before_detection(tmp_path: Path) -> None:
    results = str(tmp_path / "results.sqlite")
    start = run_harness("gameday", "start", "latent-bad-config", "--no-dashboard", HARNESS_RESULTS=results)
    assert start.returncode == PASSED, start.stderr
    assert "broken now" not in start.stdout  # a latent fault leaves port 80 serving
    rehearsal = start.stdout.split("game day ", 1)[1].split()[0]
    state = json.loads(run_harness("gameday", "status", "--json", HARNESS_RESULTS=results).stdout)
    time.sleep(4)  # the responder takes a while
    fix = "cp -a /var/backups/nginx/*/etc/nginx/sites-available/default /etc/nginx/sites-available/default\n"
    subprocess.run(["docker", "exec", "-i", state["target"], "bash"], input=fix, text=True, check=True)
    deadline = time.monotonic() + 60
    while json.loads(run_harness("gameday", "status", "--json", HARNESS_RESULTS=results).stdout)["status"] in (
        "starting",
        "broken",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    report = validated(run_harness("gameday", "report", "--json", "--id", rehearsal, HARNESS_RESULTS=results).stdout,
                       "gameday-report")  # fmt: skip
    assert report["status"] == "recovered"
    figures = report["figures"]
    assert figures["time_to_recover_s"] >= 4 > figures["time_to_detect_s"]
    kinds = [item["kind"] for item in report["timeline"]]
    assert kinds.index("detected") < kinds.index("resolved")


def test_notes_on_the_dashboard_keep_their_brackets(tmp_path: Path) -> None:
    rehearsal = Rehearsal.create(tmp_path)
    rehearsal.add_note("saw [error] in app.log [b]bold?[/b]")
    console = Console(record=True, width=200)
    console.print(render(rehearsal, RehearsalState(rehearsal.id, Status.BROKEN, hint_count=1)))
    shown = console.export_text()
    assert "[error]" in shown and "[b]bold?[/b]" in shown


@pytest.mark.docker
def test_a_game_day_watcher_survives_a_crashing_plugin_and_writes_its_report(tmp_path: Path) -> None:
    with Session() as session:
        with_catalogue(session, CrashingScenario)
        rehearsal = Rehearsal.create(tmp_path)
        state = Watcher(rehearsal, session, WatchOptions("crashes", False, 30.0)).run()
        assert session.leftovers() == []
    assert state.status is Status.ERROR
    assert "inject for scenario 'crashes' crashed: ValueError: bad plugin value" in (state.reason or "")
    assert rehearsal.report_path("md").exists()


# -- durations ---------------------------------------------------------------------------------------


def test_a_zero_time_limit_is_refused() -> None:
    done = run_harness("gameday", "start", "missing-symlink", "--time-limit", "0s", DOCKER_HOST="unix:///x.sock")
    assert done.returncode == BAD_INPUT and "not a positive duration" in done.stderr


@pytest.mark.docker
def test_a_hidden_rehearsal_keeps_its_scenario_out_of_its_state_file(tmp_path: Path) -> None:
    results = str(tmp_path / "results.sqlite")
    start = run_harness("gameday", "start", "nginx-stopped", "--hide", "--no-dashboard", HARNESS_RESULTS=results)
    assert start.returncode == PASSED, start.stderr
    rehearsal = start.stdout.split("game day ", 1)[1].split()[0]
    folder = tmp_path / "gameday" / rehearsal
    on_disk = (folder / "rehearsal.json").read_text()
    assert "nginx-stopped" not in on_disk and "nginx-not-running" not in on_disk
    status = validated(run_harness("gameday", "status", "--json", HARNESS_RESULTS=results).stdout, "gameday-status")
    report = run_harness("gameday", "report", "--id", rehearsal, HARNESS_RESULTS=results)
    assert report.returncode == BAD_INPUT and "still running" in report.stderr and "broken" not in report.stderr
    hint = run_harness("gameday", "hint", HARNESS_RESULTS=results)
    assert hint.returncode == PASSED and hint.stdout.startswith("Hint 1:")
    ended = run_harness("gameday", "end", HARNESS_RESULTS=results)
    assert ended.returncode == 1, ended.stderr
    assert json.loads((folder / "rehearsal.json").read_text())["scenario"] == "nginx-stopped"
    assert not (folder / ".sealed.json").exists()
    assert status["status"] == "broken"
