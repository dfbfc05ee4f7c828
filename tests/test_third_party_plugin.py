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
from harness.session import Session
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


# -- a plugin that brings its own cause unit, beside its scenarios --------------------------------------

ACL_DIST = "harness-acl-pack"
ACL_MODULE = """
from harness.causes import Cause, Finding
from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.units import config_change

SITE = "/etc/nginx/sites-available/default"
FILTER = 'if ($http_user_agent ~* "(bot|crawler|probe)") { return 403; }'


class DenyAll(Scenario):
    name = "deny-all"
    summary = "a 'deny all;' left in location / after a maintenance window: 403 for everyone"
    symptom = Symptom.HTTP_4XX
    cause = "access-refused"  # a unit harness ships

    def inject(self, target):
        site = target.read_file(SITE).replace("location / {", "location / {\\n\\t\\tdeny all;", 1)
        target.write_file(SITE, site)
        target.exec(["nginx", "-s", "reload"], check=True)

    def repair(self, target):
        target.write_file(SITE, target.read_file(SITE).replace("\\t\\tdeny all;\\n", "", 1))
        target.exec(["nginx", "-s", "reload"], check=True)


class BotFilter(Scenario):
    name = "bot-filter"
    summary = "a bot filter added to location / matches the monitoring's User-Agent: 403 for the probe only"
    symptom = Symptom.HTTP_4XX
    cause = "user-agent-blocked"  # this pack's own unit

    def inject(self, target):
        site = target.read_file(SITE).replace("location / {", "location / {\\n\\t\\t" + FILTER, 1)
        target.write_file(SITE, site)
        target.exec(["nginx", "-s", "reload"], check=True)

    def repair(self, target):
        target.write_file(SITE, target.read_file(SITE).replace("\\t\\t" + FILTER + "\\n", "", 1))
        target.exec(["nginx", "-s", "reload"], check=True)


def _filters(facts):
    for path, text in facts.config.contents.items():
        for number, line in enumerate(text.splitlines(), 1):
            if "$http_user_agent" in line and "return 4" in line:
                yield path, number


def rule(ctx):
    if not any(t.request.symptom == "http-4xx" for t in ctx.traces):
        return None
    for path, number in _filters(ctx.facts):
        return Finding(f"a User-Agent filter answers 403 to some clients: {path}:{number}", (f"{path}:{number}",))
    return None


def remedy(target, diagnosis):
    steps = []
    for path, number in _filters(diagnosis.facts):
        with config_change(target, [path], steps):
            steps.append(target.exec(["sed", "-i", f"{number}s/^/# (lifted by harness) /", path], check=True))
        steps.append(target.exec(["nginx", "-s", "reload"], check=True))
        return steps
    return steps


USER_AGENT_BLOCKED = Cause(
    "user-agent-blocked",
    rule,
    order=126,
    area="config",
    measures=("Exempt the monitoring's User-Agent from bot filters; probe pages from outside after each reload.",),
    remedy=remedy,
)
BROKEN = Cause("broken-unit", rule, order=1, area="nowhere", measures=("x",))
"""


@pytest.fixture(scope="module")
def acl_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    entry_points = """
        [harness.scenarios]
        deny-all = acl_pack:DenyAll
        bot-filter = acl_pack:BotFilter

        [harness.causes]
        user-agent-blocked = acl_pack:USER_AGENT_BLOCKED
        broken-unit = acl_pack:BROKEN
        """
    return installed_package(tmp_path_factory.mktemp("site-packages"), ACL_DIST, "acl_pack", ACL_MODULE, entry_points)


@pytest.mark.docker
def test_a_plugin_brings_its_own_cause_rule_and_remedy_and_drills_to_a_pass(acl_pack: Path) -> None:
    run_id = fresh_run_id("acl")
    done = run_harness("drill", "bot-filter", "--json", PYTHONPATH=str(acl_pack), HARNESS_RUN_ID=run_id)
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    diagnosis = result["observed"]["diagnosis"]
    assert result["passed"] and diagnosis["cause"] == "user-agent-blocked", diagnosis
    assert "sites-available/default" in diagnosis["summary"]
    assert containers_of_run(run_id) == []


@pytest.mark.docker
def test_a_deny_all_nobody_catalogued_is_named_by_the_rule_that_refuses_and_reverted(acl_pack: Path) -> None:
    done = run_harness("drill", "deny-all", "--json", PYTHONPATH=str(acl_pack))
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    diagnosis = result["observed"]["diagnosis"]
    assert result["passed"] and diagnosis["cause"] == "access-refused", diagnosis
    assert "`deny all` refuses every client" in diagnosis["summary"]
    assert "sites-available/default:" in diagnosis["summary"]  # the line that refuses
    steps = " ".join(" ".join(step["argv"]) for step in result["repair_steps"])
    assert "restored /etc/nginx/sites-available/default" in steps  # the change reverted, not the rule edited


def test_without_the_plugin_the_same_fault_is_unexplained_not_healthy_and_a_broken_unit_is_named(
    acl_pack: Path,
) -> None:
    listed = json.loads(run_harness("list", "--json", PYTHONPATH=str(acl_pack)).stdout)
    (broken,) = [b for b in listed["broken"] if b["name"] == "broken-unit"]
    assert broken["distribution"] == f"{ACL_DIST} 1.0" and "area 'nowhere'" in broken["reason"]


@pytest.mark.docker
def test_without_the_unit_the_doctor_says_unexplained_with_the_trace_and_the_record_undoes_it(
    harness_session: Session, acl_pack: Path
) -> None:
    import importlib
    import sys

    sys.path.insert(0, str(acl_pack))
    try:
        scenario = importlib.import_module("acl_pack").BotFilter()
    finally:
        sys.path.remove(str(acl_pack))
    from harness.drill import Drill

    result = Drill(harness_session, scenario).run()
    assert result.diagnosis is not None and result.diagnosis.cause == "unexplained"
    assert result.diagnosis.traces and "GET /" in result.diagnosis.summary
    # No unit explains it, but the known-good record does: the general undo puts back the one file that changed
    # since the healthy check, and the server recovers.
    assert result.verdict.value == "recovered", result.problems()
    undone = " ".join(" ".join(step.argv) for step in result.repair_steps)
    assert "/etc/nginx/" in undone and "nginx -t" in undone, undone
