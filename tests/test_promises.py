"""Nothing lost, nothing leaked, nothing hangs: each promise of harness, tested for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import docker
from harness.catalogue import load_catalogue
from harness.cli import BAD_INPUT, HARNESS_ERROR, INTERRUPTED, PASSED
from harness.command import ExecResult
from harness.doctor import Diagnosis
from harness.drill import repair_by_remedy
from harness.history import ResultStore
from harness.outcome import Result, Verdict
from harness.session import Session
from harness.target import Target
from tests.engines import mounts_under, processes_of, second_engine
from tests.helpers import (
    containers_of_run,
    fresh_run_id,
    harness_env,
    run_harness,
    single_drill,
    stderr_lines,
    validated,
)


def _drill_process(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "drill", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=harness_env(**env),
    )


def _finish(proc: subprocess.Popen[str]) -> None:
    """Kill a drill still running and close its pipes, so a failed test leaks no descriptors into the next."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()


def _wait_for(proc: subprocess.Popen[str], marker: str, timeout: float = 120) -> str:
    """Read the drill's progress until MARKER; returns the target's name (from target-started)."""
    target, seen = "", []
    for line in stderr_lines(proc, timeout=timeout):
        seen.append(line)
        if " target-started: " in line:
            target = line.split(" target-started: ", 1)[1].split()[0]
        if marker in line:
            return target
    raise AssertionError(f"the drill ended before {marker!r}; it said:\n" + "\n".join(seen[-8:]))


# -- 1. interrupts -------------------------------------------------------------------


# The event that opens each phase: a signal right after it lands in that phase.
PHASES = {
    "steady": " target-started:",
    "inject": " steady:",
    "detect": " injected:",
    "diagnose": " detected:",
    "repair": " repair-started:",
    "verify": " repaired:",
}


@pytest.mark.docker
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_interrupt_in_any_phase_tears_down_and_records_it(signum: int, phase: str, tmp_path: Path) -> None:
    run_id, store = fresh_run_id("int"), tmp_path / "results.sqlite"
    proc = _drill_process("missing-symlink", "--json", HARNESS_RUN_ID=run_id, HARNESS_RESULTS=str(store))
    try:
        _wait_for(proc, PHASES[phase])
        proc.send_signal(signum)  # at once: a fast drill may otherwise finish first
        out, err = proc.communicate(timeout=60)
    finally:
        _finish(proc)
    assert proc.returncode == INTERRUPTED, err
    result = single_drill(out)
    assert result["verdict"] == "interrupted"
    events = [e["event"] for e in result["timeline"]["events"]]
    assert events[-2:] == ["torn-down", "interrupted"] or events[-2:] == ["interrupted", "torn-down"]
    assert containers_of_run(run_id) == []
    assert [r.verdict for r in ResultStore(store).runs()] == ["interrupted"]


def test_signal_handlers_are_restored_after_a_drill(harness_drill: Callable[..., Result]) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    result = harness_drill("nginx-stopped", timeout=120.0)
    assert result.passed, result.problems()
    assert {sig: signal.getsignal(sig) for sig in before} == before


# -- 2. crashes ------------------------------------------------------------------------


def _containers_on(host: str, run_id: str) -> list[str]:
    argv = ["docker", "-H", host, "ps", "-aq", "--filter", f"label=harness.run={run_id}"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()


def test_a_killed_harness_is_swept_by_the_next_start_and_live_runs_are_spared(harness_session: Session) -> None:
    # On an engine of its own: on a shared one, any other harness start (another test worker's) may sweep first.
    with second_engine(harness_session.image.tag, bridge="harness-br5", address="172.31.253.1/24") as host:
        killed_run, live_run = fresh_run_id("killed"), fresh_run_id("live")
        live = _drill_process("fd-limit", HARNESS_RUN_ID=live_run, DOCKER_HOST=host)  # running all along
        try:
            _wait_for(live, " steady:")
            killed = _drill_process("missing-symlink", HARNESS_RUN_ID=killed_run, DOCKER_HOST=host)
            _wait_for(killed, " steady:")
            killed.kill()  # SIGKILL: no cleanup of its own
            killed.communicate(timeout=30)
            assert _containers_on(host, killed_run), "the killed drill should have left its target behind"
            sweeper = run_harness("drill", "nginx-stopped", DOCKER_HOST=host)  # the next harness start
            assert sweeper.returncode == PASSED, sweeper.stderr
            assert f"removed orphaned container harness-{killed_run}-" in sweeper.stderr
            assert f"harness-{live_run}" not in sweeper.stderr
            assert _containers_on(host, killed_run) == []
            _, err = live.communicate(timeout=120)
        finally:
            _finish(live)
        assert live.returncode == PASSED, err  # the live run kept its target and finished


# -- 3. the engine disappears -------------------------------------------------------------


def test_engine_stopping_mid_drill_is_a_clear_error_not_a_hang(harness_session: Session) -> None:
    with second_engine(harness_session.image.tag, bridge="harness-br3", address="172.31.251.1/24") as host:
        root = Path(_engine_root(host))
        proc = _drill_process("fd-limit", "--json", DOCKER_HOST=host)
        try:
            _wait_for(proc, " injected:")
            stopped = time.monotonic()
            _stop_engine_at(host)
            out, err = proc.communicate(timeout=90)
            took = time.monotonic() - stopped
        finally:
            _finish(proc)
    # The engine's orphans (shim, tini, nginx, the app) and its namespace mounts are gone with it.
    assert processes_of(root) == []
    assert mounts_under(root) == []
    assert not root.exists()
    assert proc.returncode == HARNESS_ERROR, err
    assert "Docker engine" in err or "Docker engine" in out
    assert took < 90
    assert "Traceback" not in err


def _engine_root(host: str) -> str:
    """The folder the dockerd listening at HOST keeps its state in (its --data-root's parent)."""
    found = subprocess.run(["pgrep", "-af", f"dockerd --host {host}"], capture_output=True, text=True)
    words = found.stdout.split()
    return words[words.index("--data-root") + 1].rsplit("/", 1)[0]


def _stop_engine_at(host: str) -> None:
    """Stop the dockerd listening at HOST, as an engine crash or shutdown would."""
    port = host.rsplit(":", 1)[1]
    found = subprocess.run(["pgrep", "-f", f"dockerd --host {host}"], capture_output=True, text=True)
    pids = [int(p) for p in found.stdout.split()]
    assert pids, f"no dockerd listens on port {port}"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


# -- 4. the target disappears ----------------------------------------------------------------


@pytest.mark.docker
def test_target_removed_mid_drill_is_an_error_naming_it() -> None:
    proc = _drill_process("missing-symlink", "--json")
    try:
        target = _wait_for(proc, " injected:")
        docker.from_env().containers.get(target).remove(force=True)
        out, err = proc.communicate(timeout=90)
    finally:
        _finish(proc)
    assert proc.returncode == HARNESS_ERROR, err
    result = single_drill(out)
    assert result["verdict"] == "error"
    reason = result["reason"]
    assert "target container" in reason and any(word in reason for word in ("disappeared", "removed", "stopped"))


def test_nginx_dying_after_the_repair_is_never_recovered(harness_drill: Callable[..., Result]) -> None:
    def repair_then_die(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
        steps = repair_by_remedy(target, diagnosis)
        # Something no scenario intended: nginx dies right after the repair.
        return [*steps, target.exec(["pkill", "-KILL", "-x", "nginx"])]

    result = harness_drill("missing-symlink", repair=repair_then_die, recover_timeout=3.0)
    assert result.verdict is not Verdict.RECOVERED
    assert "did not serve the expected page" in result.reason or "doctor still finds" in result.reason


# -- 5. every wait is bounded ----------------------------------------------------------------


@pytest.mark.docker
def test_timeout_bounds_a_whole_drill() -> None:
    run_id = fresh_run_id("timeout")
    started = time.monotonic()
    done = run_harness("drill", "fd-limit", "--timeout", "3", "--json", HARNESS_RUN_ID=run_id)
    took = time.monotonic() - started
    assert done.returncode == HARNESS_ERROR, done.stderr
    result = single_drill(done.stdout)
    assert result["verdict"] == "error"
    assert "did not finish within 3 s (--timeout)" in result["reason"]
    assert took < 15
    assert containers_of_run(run_id) == []


# -- 6. blast radius ------------------------------------------------------------------------------


def test_targets_mount_nothing_from_the_host(harness_target: Target) -> None:
    details = docker.from_env().api.inspect_container(harness_target.name)
    assert details["Mounts"] == []
    assert not details["HostConfig"]["Binds"]
    assert not details["HostConfig"]["Privileged"]
    assert not details["HostConfig"]["CapAdd"]


@pytest.mark.docker
def test_no_input_reaches_a_host_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f"$(touch {marker}); touch {marker}; `touch {marker}`"
    attempts = [
        ("drill", evil),
        ("check", evil),
        ("verify-fix", "missing-symlink", evil),
        ("history", "--scenario", evil),
    ]
    for args in attempts:
        done = run_harness(*args)
        assert done.returncode in (PASSED, BAD_INPUT), (args, done.stderr)
    assert not marker.exists()


@pytest.mark.docker
def test_a_fix_runs_only_inside_the_target(tmp_path: Path) -> None:
    marker = tmp_path / "ran-on-the-host"
    fix = tmp_path / "fix.sh"
    fix.write_text(f"touch {marker}\nservice nginx start\n")
    done = run_harness("verify-fix", "nginx-stopped", str(fix), "--no-scope", "--json")
    assert done.returncode == PASSED, done.stderr
    assert not marker.exists()  # the path exists nowhere but inside throwaway targets


# -- 8. concurrency ------------------------------------------------------------------------------------


@pytest.mark.docker
def test_two_catalogue_runs_at_once_both_succeed_and_record_everything(tmp_path: Path) -> None:
    store = tmp_path / "results.sqlite"
    names = ["missing-symlink", "nginx-stopped", "bad-config-deploy", "web-root-permissions", "latent-bad-config"]
    runs = [_drill_process(*names, "--json", HARNESS_RESULTS=str(store)) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in runs]
    for proc, (out, err) in zip(runs, outputs, strict=True):
        assert proc.returncode == PASSED, err
        assert json.loads(out)["accuracy"]["recovered"] == len(names)
    recorded = ResultStore(store).runs()
    assert len(recorded) == 2 * len(names)
    assert len({r.run_id for r in recorded}) == 2


# -- 1. interrupts, continued: Ctrl-C in a parallel catalogue --------------------------------------


@pytest.mark.slow
@pytest.mark.docker
def test_ctrl_c_in_a_parallel_catalogue_injects_nothing_more_and_says_so(tmp_path: Path) -> None:
    run_id = fresh_run_id("par-int")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "drill", "--all", "--jobs", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=harness_env(HARNESS_RUN_ID=run_id, HARNESS_RESULTS=str(tmp_path / "r.sqlite")),
    )
    before: list[str] = []
    try:
        for line in stderr_lines(proc, timeout=120):
            before.append(line)
            if sum(" injected:" in seen for seen in before) >= 2:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # bounded: a run that waits out its drills fails here
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == INTERRUPTED, err
    started = {line.split()[0] for line in before if " target-started:" in line}
    # Nothing started, nothing injected after the interrupt, and no library log lines reached the terminal.
    assert " injected:" not in err and " target-started:" not in err, err
    assert "409" not in err and "harness.target" not in err and "Traceback" not in err, err
    document = validated(out, "drill")
    assert document["interrupted"] is True and document["passed"] is False
    assert {r["scenario"] for r in document["results"]} <= started
    assert all(r["verdict"] == "interrupted" for r in document["results"]), [r["reason"] for r in document["results"]]
    accuracy = document["accuracy"]
    planned = len(load_catalogue().names())
    assert accuracy["planned"] == planned and accuracy["interrupted"] == len(document["results"])
    assert "interrupted after" in accuracy["summary"]
    # The drills running at the interrupt were stopped, not waited out (a wall-clock bound here failed under load).
    assert containers_of_run(run_id) == []
