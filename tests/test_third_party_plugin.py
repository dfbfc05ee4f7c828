"""A scenario from a separately installed package, found through the entry-point group.

The package is "installed" the way pip leaves one: a module and a .dist-info
folder with entry_points.txt on the interpreter's path. One entry point works,
one is broken; the broken one is named with its package and hides nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import BAD_INPUT, PASSED
from tests.helpers import containers_of_run, fresh_run_id, installed_package, run_harness, single_drill

DIST = "harness-extra-scenarios"
MODULE = """
from harness.scenario import Scenario
from harness.symptom import Symptom

WAIT_GONE = "while pgrep -x nginx >/dev/null; do sleep 0.05; done"


class NginxTerminated(Scenario):
    name = "nginx-terminated"
    summary = "someone runs pkill nginx (SIGTERM): a clean, unplanned shutdown"
    symptom = Symptom.REFUSED
    cause = "nginx-not-running"

    def inject(self, target):
        target.exec(["pkill", "-TERM", "-x", "nginx"], check=True)
        target.exec(["sh", "-c", WAIT_GONE], timeout=10, check=True)

    def repair(self, target):
        target.nginx.start(check=True)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    entry_points = """
        [harness.scenarios]
        nginx-terminated = extra_scenarios:NginxTerminated
        broken-plugin = extra_scenarios:DoesNotExist
        """
    return installed_package(tmp_path_factory.mktemp("site-packages"), DIST, "extra_scenarios", MODULE, entry_points)


def test_installed_plugin_is_listed_and_the_broken_one_is_named(site: Path) -> None:
    done = run_harness("list", "--json", PYTHONPATH=str(site))
    assert done.returncode == PASSED, done.stderr
    listed = json.loads(done.stdout)
    names = {s["name"] for s in listed["scenarios"]}
    assert {"nginx-terminated", "missing-symlink", "fd-limit"} <= names
    (broken,) = listed["broken"]
    assert broken["name"] == "broken-plugin"
    assert broken["distribution"] == f"{DIST} 1.0"
    assert "AttributeError" in broken["reason"]

    table = run_harness("list", PYTHONPATH=str(site))
    assert f"broken plugin scenario plugin 'broken-plugin' from {DIST} 1.0 is broken" in " ".join(table.stdout.split())


@pytest.mark.docker
def test_installed_plugin_runs_a_drill(site: Path) -> None:
    run_id = fresh_run_id()
    done = run_harness("drill", "nginx-terminated", "--json", PYTHONPATH=str(site), HARNESS_RUN_ID=run_id)
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    assert result["passed"] and result["observed"]["diagnosis"]["cause"] == "nginx-not-running"
    assert containers_of_run(run_id) == []


def test_drilling_the_broken_plugin_is_one_clear_line(site: Path) -> None:
    done = run_harness("drill", "broken-plugin", PYTHONPATH=str(site))
    assert done.returncode == BAD_INPUT
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"harness: scenario plugin 'broken-plugin' from {DIST} 1.0 is broken: AttributeError")
    assert line.endswith(f"fix or uninstall {DIST} 1.0")
