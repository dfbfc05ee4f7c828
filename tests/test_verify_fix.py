"""verify-fix for real: fixes run as root in real targets, each check judged by what the server does."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import BAD_INPUT, INTERRUPTED
from harness.fix import Fix, FixKind
from harness.history import ResultStore
from harness.session import Session
from harness.verify import SECOND_RUN, CheckStatus, FixReport, VerifyOptions, verify_fix
from tests.helpers import (
    CrashingScenario,
    containers_of_run,
    fresh_run_id,
    harness_env,
    run_harness,
    stderr_lines,
    validated,
    with_catalogue,
)

FIXES = Path(__file__).parent / "fixes"
Verify = Callable[..., FixReport]
FAST = {"settle_timeout": 5.0}  # a failing check waits this long for port 80; 5 s is ample after a fix returns


def statuses(report: FixReport) -> dict[str, CheckStatus]:
    return {check.name: check.status for check in report.checks}


def test_correct_fix_passes_every_check(harness_verify_fix: Verify) -> None:
    report = harness_verify_fix("missing-symlink", FIXES / "relink.sh")
    assert statuses(report) == {
        "restores": CheckStatus.PASSED,
        "healthy": CheckStatus.PASSED,
        "idempotent": CheckStatus.PASSED,
        "harmless": CheckStatus.PASSED,
        "durable": CheckStatus.PASSED,
        "scope": CheckStatus.INFO,
    }
    assert report.time_to_restore is not None and report.time_to_restore > 0
    # The fix ran three times: on the broken server, again on the repaired one, and on a healthy one.
    assert len(report.runs) == 3 and all(run.exit_code == 0 for run in report.runs)
    first = report.first_run
    assert first is not None and "Restarting nginx" in first.output


def test_fix_that_forgets_to_restart_nginx_fails_restores(harness_verify_fix: Verify) -> None:
    report = harness_verify_fix("missing-symlink", FIXES / "no-restart.sh", must_pass=False, **FAST)
    assert not report.passed
    assert report.check("restores").status is CheckStatus.FAILED
    # The doctor names what the fix forgot: the config on disk is right, the running nginx never loaded it.
    assert "config-not-loaded" in report.check("healthy").summary


def test_fix_serving_port_80_with_another_program_fails_restores_and_healthy(harness_verify_fix: Verify) -> None:
    report = harness_verify_fix("missing-symlink", FIXES / "impostor.sh", must_pass=False, **FAST)
    assert report.check("restores").status is CheckStatus.FAILED
    assert "not from nginx" in report.check("restores").summary
    assert report.check("healthy").status is CheckStatus.FAILED
    assert any("python3" in line for line in report.check("restores").evidence)


def test_fix_that_is_not_idempotent_fails_idempotent(harness_verify_fix: Verify) -> None:
    report = harness_verify_fix("missing-symlink", FIXES / "duplicate-listen.sh", must_pass=False, **FAST)
    checks = statuses(report)
    assert checks["restores"] is CheckStatus.PASSED and checks["healthy"] is CheckStatus.PASSED
    assert checks["idempotent"] is CheckStatus.FAILED
    assert "second run exited 1" in report.check("idempotent").summary


def test_fix_that_breaks_a_healthy_server_fails_harmless(harness_verify_fix: Verify) -> None:
    report = harness_verify_fix("missing-symlink", FIXES / "toggle-link.sh", must_pass=False, **FAST)
    assert report.check("restores").status is CheckStatus.PASSED
    assert report.check("harmless").status is CheckStatus.FAILED
    assert "broke a healthy server" in report.check("harmless").summary


def test_fix_that_hangs_is_killed_at_its_deadline(harness_verify_fix: Verify) -> None:
    report = harness_verify_fix("nginx-stopped", FIXES / "hangs.sh", must_pass=False, fix_timeout=3.0, **FAST)
    restores = report.check("restores")
    assert restores.status is CheckStatus.FAILED
    assert "timed out after 3 s" in restores.summary
    assert "waiting for the database" in restores.summary  # its output so far
    first = report.first_run
    assert first is not None and first.timed_out and 3.0 <= first.duration < 8.0
    assert report.check("idempotent").status is CheckStatus.SKIPPED


@pytest.mark.slow
def test_puppet_manifest_is_applied_in_the_puppet_variant(harness_verify_fix: Verify) -> None:
    report = harness_verify_fix("missing-symlink", FIXES / "relink.pp")
    assert report.image.startswith("harness-target-puppet:")
    assert report.fix.kind is FixKind.PUPPET
    # Puppet said it changed something on the broken server, and nothing on its second run.
    broken, again = report.first_run, report.run_on(SECOND_RUN)
    assert broken is not None and broken.changed is True
    assert again is not None and again.changed is False


def test_fix_output_is_capped_in_the_report(harness_verify_fix: Verify, tmp_path: Path) -> None:
    noisy = tmp_path / "noisy-start.sh"
    # Written for Ubuntu: systemctl, which this init-script server provides as a shim.
    noisy.write_text("head -c 3000000 /dev/zero | tr '\\0' 'x'\necho\necho starting nginx\nsystemctl start nginx\n")
    report = harness_verify_fix("nginx-stopped", noisy)
    first = report.first_run
    assert first is not None and first.output_bytes > 3_000_000
    assert len(first.output) < 20_000 and first.truncated
    assert "starting nginx" in first.output  # the tail, where the fix's last words are, is kept


@pytest.mark.slow
@pytest.mark.docker
def test_verify_fix_command_reports_scope_records_history_and_leaves_nothing(tmp_path: Path) -> None:
    run_id = fresh_run_id("verify")
    store = tmp_path / "results.sqlite"
    proc = run_harness(
        "verify-fix", "missing-symlink", str(FIXES / "relink.sh"), "--json", "--scope",
        HARNESS_RUN_ID=run_id, HARNESS_RESULTS=str(store),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = validated(proc.stdout, "verify-fix")
    assert report["verdict"] == "passed"
    scope = {entry["scenario"]: entry["repaired"] for entry in report["scope"]}
    details = {entry["scenario"]: entry["detail"] for entry in report["scope"]}
    assert "missing-symlink" not in scope and len(scope) >= 15
    # Relinking and (re)starting nginx is also the whole fix for a stopped nginx, and no fix for a squatter.
    # worker-connections fails only under load: judged by a burst after the fix, as a drill judges it.
    judged = (
        ("nginx-stopped", True),
        ("misleading-path", True),
        ("port-squatted", False),
        ("worker-connections", False),
    )
    for name, repaired in judged:
        assert scope[name] is repaired, f"{name}: {details[name]}"
    assert scope["bad-app-deploy"] is False, details["bad-app-deploy"]
    runs = ResultStore(store).runs(kind="verify-fix")
    assert [(r.scenario, r.fix, r.verdict) for r in runs] == [("missing-symlink", "relink.sh", "passed")]
    assert runs[0].fix_sha256 == Fix.load(FIXES / "relink.sh").sha256
    assert containers_of_run(run_id) == []


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda d: d / "absent.sh", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: _write(d / "empty.sh", b"\n\n"), "is empty"),
        (lambda d: _write(d / "binary.sh", b"\x7fELF\0\0\0"), "binary"),
    ],
    ids=["missing", "directory", "empty", "binary"],
)
def test_unusable_fix_is_one_line_of_bad_input(tmp_path: Path, make: Callable[[Path], Path], said: str) -> None:
    proc = run_harness("verify-fix", "missing-symlink", str(make(tmp_path)))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in proc.stderr


def test_unreadable_fix_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fix = _write(tmp_path / "locked.sh", b"true\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)  # root reads any file, so the denial is simulated
    with pytest.raises(Exception, match="cannot be read \\(permission denied\\)"):
        Fix.load(fix)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.slow
@pytest.mark.docker
def test_interrupted_verify_fix_stops_its_other_targets_at_once() -> None:
    run_id = fresh_run_id("verify-int")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "verify-fix", "missing-symlink", str(FIXES / "relink.sh"), "--scope"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=harness_env(HARNESS_RUN_ID=run_id),
    )
    try:
        for line in stderr_lines(proc, timeout=120):
            if line.startswith("scope: trying"):
                break
        else:
            raise AssertionError("verify-fix ended before its scope check")
        time.sleep(1.0)  # let the scope targets start
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        took = time.monotonic() - interrupted
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == INTERRUPTED
    assert took < 15  # not the rest of the scope, nor a fix's 60 s deadline
    assert containers_of_run(run_id) == []


@pytest.mark.docker
def test_verify_fix_does_not_pass_healthy_for_a_fix_that_deletes_the_app(
    harness_session: Session, tmp_path: Path
) -> None:
    fix = tmp_path / "drop-app.sh"
    fix.write_text(
        "sed -i '/location \\/app\\//,/}/d' /etc/nginx/sites-available/default\n"
        "ln -sf /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default\n"
        "service nginx reload\n"
    )
    from harness.fix import Fix

    report = verify_fix(
        harness_session, harness_session.catalogue.get("missing-symlink"), Fix.load(fix), VerifyOptions()
    )
    assert not report.passed
    assert report.check("healthy").status is not CheckStatus.PASSED


@pytest.mark.slow
@pytest.mark.docker
def test_verify_fix_scope_reports_a_crashing_plugin_instead_of_a_traceback(harness_session: Session) -> None:
    from harness.fix import Fix
    from scenarios.missing_symlink import MissingSymlink

    with Session() as session:
        with_catalogue(session, MissingSymlink, CrashingScenario)
        report = verify_fix(
            session, session.catalogue.get("missing-symlink"), Fix.load(FIXES / "relink.sh"), VerifyOptions(scope=True)
        )
    (entry,) = report.scope
    assert entry.scenario == "crashes" and entry.repaired is None
    assert "ValueError: bad plugin value" in entry.detail


# -- a failing fix is quick ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.docker
def test_a_hanging_fix_skips_the_later_checks_and_ends_soon(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_harness("verify-fix", "nginx-stopped", str(FIXES / "hangs.sh"), "--timeout", "3", "--scope", "--json")
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    report = validated(done.stdout, "verify-fix")
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["restores"]["status"] == "failed"
    for name in ("healthy", "idempotent", "harmless", "durable", "scope"):
        assert checks[name]["status"] == "skipped" and "restores failed" in checks[name]["summary"], checks[name]
    assert report["scope"] == []
    assert took < 3 + 30


def test_scope_is_opt_in() -> None:
    assert VerifyOptions().scope is False
    done = run_harness("verify-fix", "--help")
    assert "--scope / --no-scope" in done.stdout and "[default: no-" in done.stdout


# -- fix files are checked before a target starts ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"service nginx start\r\n", "Windows line endings (CRLF) from line 1"),
        (b"if true; then\n  service nginx start\n", "shell syntax error (bash -n): line 3"),
        (b"#!/bin/sh\ncase x in\n", "shell syntax error (sh -n)"),
    ],
    ids=["crlf", "bash", "sh"],
)
def test_a_broken_fix_file_is_one_line_of_bad_input_before_any_target(
    tmp_path: Path, content: bytes, said: str
) -> None:
    fix = tmp_path / "fix.sh"
    fix.write_bytes(content)
    started = time.monotonic()
    # No engine: the check must come before anything needs one.
    done = run_harness("verify-fix", "missing-symlink", str(fix), DOCKER_HOST="unix:///nonexistent.sock")
    assert done.returncode == BAD_INPUT, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and said in done.stderr, done.stderr
    assert time.monotonic() - started < 10


@pytest.mark.docker
def test_a_puppet_manifest_that_does_not_parse_is_bad_input_before_anything_breaks(tmp_path: Path) -> None:
    fix = tmp_path / "fix.pp"
    fix.write_text("service { 'nginx':\n  ensure => running,\n\n")
    run_id = fresh_run_id("pp")
    done = run_harness("verify-fix", "missing-symlink", str(fix), HARNESS_RUN_ID=run_id)
    assert done.returncode == BAD_INPUT, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("harness:")]
    assert len(lines) == 1 and "does not parse (puppet parser validate)" in lines[0], done.stderr
    assert "injected" not in done.stderr
    assert containers_of_run(run_id) == []
