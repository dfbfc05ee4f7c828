"""The pytest plugin as a user's suite meets it (pytester, inner runs)."""

from __future__ import annotations

import pytest

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
    result.stderr.fnmatch_lines(["*unknown scenario nope; known scenarios: missing-symlink*"])


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
