"""The pytest plugin as a user's suite meets it (pytester, inner runs)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from harness.catalogue import load_catalogue
from tests.helpers import containers_of_run, fresh_run_id, harness_env

SUITE = """
import pytest

@pytest.mark.scenario("missing-symlink")
def test_outage():
    pass

@pytest.mark.scenario("someone-elses")
def test_other():
    pass

def test_plain():
    pass
"""


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.scenario(name):*", "@pytest.mark.docker:*"])


def test_harness_scenario_selects_marked_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--harness-scenario", "missing-symlink", "-v")
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(["*test_outage PASSED*", "*test_plain PASSED*"])


def test_unknown_harness_scenario_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--harness-scenario", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown scenario nope; known scenarios: app-stopped, bad-app-deploy, *, missing-symlink, *"]
    )


def test_tests_using_targets_are_marked_docker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_target(harness_target):
            pass

        def test_pure():
            pass
        """
    )
    result = pytester.runpytest("-m", "not docker", "-v")
    result.assert_outcomes(passed=1, deselected=1)


@pytest.mark.docker
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_suite_still_removes_its_targets(tmp_path: Path, signum: int) -> None:
    ready = tmp_path / "ready"
    suite = tmp_path / "test_inner.py"
    suite.write_text(
        textwrap.dedent(
            f"""
            import pathlib, time

            def test_holds_a_target(harness_target):
                pathlib.Path({str(ready)!r}).write_text(harness_target.name)
                time.sleep(120)
            """
        )
    )
    run_id = fresh_run_id("suite")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(suite)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=harness_env(HARNESS_RUN_ID=run_id),
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the inner test never got its target"
            time.sleep(0.1)
        assert containers_of_run(run_id) == [ready.read_text()]
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert containers_of_run(run_id) == []


def test_no_engine_fails_docker_tests_with_one_clear_line(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        def test_uses_target(harness_target):
            pass

        def test_pure():
            pass
        """
    )
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*harness: no Docker engine answers at unix://{tmp_path}/nothing.sock; start one*"])
    assert "Traceback" not in result.stdout.str()


def test_each_scenario_makes_one_test_per_catalogue_entry_selectable_by_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_drill(harness_each_scenario):
            pass
        """
    )
    names = load_catalogue().names()
    every = pytester.runpytest("--collect-only", "-q")
    every.stdout.fnmatch_lines([f"*test_drill[[]{name}[]]" for name in names])
    assert f"{len(names)} tests collected" in every.stdout.str()
    one = pytester.runpytest("--collect-only", "-q", "--harness-scenario", "nginx-hung")
    one.stdout.fnmatch_lines(["*test_drill[[]nginx-hung[]]", f"1/{len(names)} tests collected*"])


FIX_SUITE = """
def test_relink_fix(harness_verify_fix):
    report = harness_verify_fix("missing-symlink", "fixes/relink.sh")
    assert report.check("restores").status.value == "passed"

def test_forgetful_fix(harness_verify_fix):
    harness_verify_fix("missing-symlink", "fixes/no-restart.sh", settle_timeout=3.0)

def test_drill(harness_each_scenario, harness_drill):
    assert harness_drill(harness_each_scenario).passed
"""


@pytest.mark.docker
def test_fixtures_fail_naming_the_failed_check_and_put_their_figures_in_junit_under_xdist(
    pytester: pytest.Pytester,
) -> None:
    fixes = pytester.mkdir("fixes")
    for name in ("relink.sh", "no-restart.sh"):
        (fixes / name).write_text((Path(__file__).parent / "fixes" / name).read_text())
    pytester.makepyfile(FIX_SUITE)
    # The default junit_family (xunit2) and warnings as errors: pytest's record_property would fail here.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "-W", "error", "--junitxml=out.xml",
        "--harness-scenario", "missing-symlink", "--harness-scenario", "nginx-stopped",
    )  # fmt: skip
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*fix no-restart.sh against missing-symlink: check 'restores' failed: port 80 was not*"]
    )
    assert "Traceback" not in result.stdout.str()
    cases = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ElementTree.parse(pytester.path / "out.xml").getroot().iter("testcase")
    }
    assert set(cases) == {"test_relink_fix", "test_forgetful_fix", "test_drill[missing-symlink]",
                          "test_drill[nginx-stopped]"}  # fmt: skip
    for name, props in cases.items():
        assert props["harness.image"].startswith("harness-target"), name
        assert {"harness.time_to_detect_s", "harness.symptom", "harness.cause", "harness.cause_correct"} <= set(props)
    drilled = cases["test_drill[nginx-stopped]"]
    assert (drilled["harness.verdict"], drilled["harness.passed"]) == ("recovered", "true")
    assert (drilled["harness.cause"], drilled["harness.cause_correct"]) == ("nginx-not-running", "true")
    assert drilled["harness.symptom"] == "refused"
    # 0.000 is honest: a sample sent as the injection began may already fail.
    assert 0 <= float(drilled["harness.time_to_detect_s"]) < float(drilled["harness.time_to_recover_s"])
    forgetful = cases["test_forgetful_fix"]
    assert (forgetful["harness.fix"], forgetful["harness.fix_verdict"]) == ("no-restart.sh", "failed")
    assert forgetful["harness.time_to_recover_s"] == ""
