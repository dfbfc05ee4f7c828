"""What a run tells the people and tools that read it: withstood, the journal's probes, JSON on every exit,
spans off stdout, the site in postmortems and JUnit, and summary counts that cannot disagree."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from chaoslib.hypothesis import run_steady_state_hypothesis
from chaoslib.run import EventHandlerRegistry

from harness.cli import BAD_INPUT, HARNESS_ERROR, PASSED, VERDICT_FAILED
from harness.doctor import diagnose
from harness.facts import parse_facts
from harness.gameday.postmortem import build, to_markdown
from harness.gameday.state import Rehearsal, RehearsalState, Status, now
from harness.outcome import DetectedBy, Result, Verdict
from harness.pytest_plugin import record_properties
from harness.report import Accuracy, results_to_dict
from harness.session import Session
from harness.site import load_site
from harness.symptom import Symptom
from harness.timeline import Recorder
from tests.helpers import run_harness, single_drill, validated

SITES = Path(__file__).parent / "sites"
REPO = Path(__file__).parent.parent
FACTS_DIAGNOSIS = diagnose(parse_facts((Path(__file__).parent / "data" / "facts-missing-symlink.txt").read_text()))
# A change no client should notice: a comment in nginx.conf, and a reload.
HARMLESS = """\
name: harmless-comment
summary: a comment appended to nginx.conf and a reload, which no client should notice
symptom: http-5xx
cause: nginx-not-running
inject:
  - script: echo '# harmless' >> /etc/nginx/nginx.conf && nginx -s reload
repair:
  - script: sed -i '/^# harmless$/d' /etc/nginx/nginx.conf && nginx -s reload
"""


@pytest.fixture
def harmless(tmp_path: Path) -> Path:
    path = tmp_path / "harmless.yaml"
    path.write_text(HARMLESS)
    return path


# -- withstood, on a real container ------------------------------------------------------------------------


@pytest.mark.docker
def test_a_site_that_withstands_a_fault_passes_and_its_journal_checks_the_sites_real_probes(
    harmless: Path, tmp_path: Path
) -> None:
    site = SITES / "dropper"  # a `return 444` catch-all in front of a named virtual host
    path = tmp_path / "journal.json"
    done = run_harness(
        "drill", str(harmless), "--site", str(site), "--json", "--journal", str(path), "--phase-timeout", "4"
    )
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    assert (result["verdict"], result["passed"], result["problems"]) == ("withstood", True, []), result["reason"]
    assert "probe samples were ok" in result["reason"]
    assert result["observed"]["diagnosis"]["cause"] == "healthy"
    document = json.loads(done.stdout)
    assert document["accuracy"]["withstood"] == 1 and document["accuracy"]["verdicts"] == {"withstood": 1}
    assert "1/1 passed (1 withstood)" in document["accuracy"]["summary"]

    journal = json.loads(path.read_text())
    assert (journal["status"], journal["deviated"]) == ("completed", False)
    assert journal["steady_states"]["after"]["steady_state_met"] is True
    experiment = journal["experiment"]
    requests = [p for p in experiment["steady-state-hypothesis"]["probes"] if p["name"].startswith("answers-")]
    hosts = {
        p["provider"].get("headers", {}).get("Host") or p["provider"].get("arguments", {}).get("host") for p in requests
    }
    assert "shop.example.com" in hosts, requests
    # The catch-all's healthy answer is a closed connection, not a 200 for GET /.
    closed = [p for p in requests if p["provider"].get("arguments", {}).get("closed")]
    assert closed and closed[0]["tolerance"] is True

    # `chaos run`'s hypothesis of that experiment, against a live server of the same site.
    with Session(site=load_site(site)) as session, session.new_target() as target:
        configuration = {**experiment["configuration"], "harness_url": target.url, "harness_container": target.name}
        state = run_steady_state_hypothesis(experiment, configuration, {}, None, EventHandlerRegistry())
    assert state["steady_state_met"] is True, [(p["activity"]["name"], p["output"]) for p in state["probes"]]


@pytest.mark.docker
def test_a_withstood_on_harness_own_server_is_a_broken_scenario_and_fails_the_run(harmless: Path) -> None:
    # A small burst: what is judged here is the verdict, and a big one only strains a shared machine.
    done = run_harness("drill", str(harmless), "--json", "--phase-timeout", "3", "--load", "200", "--clients", "20")
    assert done.returncode == VERDICT_FAILED, done.stderr
    result = single_drill(done.stdout)
    assert (result["verdict"], result["passed"]) == ("withstood", False), result["reason"]
    assert "the scenario is broken" in result["problems"][0]
    assert json.loads(done.stdout)["accuracy"]["failed"] == [{"scenario": "harmless-comment", "verdict": "withstood"}]


# -- --json on exit 2 and 3 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "code", "said"),
    [
        (("drill", "--json"), {}, BAD_INPUT, "name a SCENARIO"),
        (("drill", "no-such-scenario", "--json"), {}, BAD_INPUT, "unknown scenario 'no-such-scenario'"),
        (("list", "--json", "--site", "/nonexistent-site"), {}, BAD_INPUT, "is not a folder"),
        (("drill", "nginx-stopped", "--json"), {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, HARNESS_ERROR, ""),
        (("verify-fix", "nginx-stopped", "/nonexistent/fix.sh", "--json"), {}, BAD_INPUT, ""),
    ],
)
def test_json_is_printed_on_stdout_when_a_run_ends_on_bad_input_or_harness_trouble(
    args: tuple[str, ...], env: dict[str, str], code: int, said: str
) -> None:
    done = run_harness(*args, **env)
    assert done.returncode == code, done.stderr
    document = validated(done.stdout, "error")
    assert document["exit_code"] == code and document["passed"] is False
    assert document["error"]["kind"] == ("bad-input" if code == BAD_INPUT else "harness-error")
    assert said in document["error"]["message"]
    assert document["error"]["message"] in " ".join(done.stderr.split())


def test_without_json_an_error_prints_nothing_on_stdout() -> None:
    done = run_harness("drill", "no-such-scenario")
    assert done.returncode == BAD_INPUT and done.stdout == ""


# -- spans never on stdout -------------------------------------------------------------------------------


def test_console_spans_go_to_stderr_so_the_json_on_stdout_still_parses() -> None:
    code = (
        "from tests.test_drill_phases import _drill, FakeTarget, _relink\n"
        "from harness.cli.drill import emit_results\n"
        "result = _drill(FakeTarget(), _relink)[0].run()\n"
        "emit_results([result], as_json=True, planned=1)\n"
        "from harness import otel\n"
        "otel.provider().force_flush()\n"
    )
    env = {"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "console", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    validated(done.stdout, "drill")
    assert '"name": "drill link-gone"' in done.stderr


# -- the site in the postmortem and in JUnit ----------------------------------------------------------------


def _rehearsed(tmp_path: Path, site: str | None) -> dict[str, Any]:
    rehearsal = Rehearsal.create(tmp_path)
    state = RehearsalState(
        rehearsal.id,
        Status.RECOVERED,
        scenario="missing-symlink",
        cause="site-not-enabled",
        site=site,
        injected_at=now(),
        recovered_at=now(),
    )
    return build(rehearsal, state)


def test_the_postmortem_regression_test_runs_on_the_site_rehearsed(tmp_path: Path) -> None:
    report = _rehearsed(tmp_path, "/srv/our site")
    test = report["regression_test"]
    assert test["command"] == "harness verify-fix missing-symlink fixes/missing-symlink.sh --site '/srv/our site'"
    assert "pytest --harness-site '/srv/our site'" in test["pytest"]
    assert "--site '/srv/our site'" in to_markdown(report)
    validated(json.dumps(report), "gameday-report")
    own = _rehearsed(tmp_path / "own", None)["regression_test"]
    assert "--site" not in own["command"] and "--harness-site" not in own["pytest"]


class _Item:
    def __init__(self) -> None:
        self.user_properties: list[tuple[str, str]] = []


def _result(
    verdict: Verdict,
    *,
    cause: str = "site-not-enabled",
    symptom: Symptom = Symptom.REFUSED,
    site: str = "",
    name: str = "s",
) -> Result:
    """A finished drill's Result (no Docker): a probe-detected fault, diagnosed as CAUSE."""
    diagnosis = replace(FACTS_DIAGNOSIS, cause=cause)
    return Result(
        scenario=name,
        summary="",
        declared_symptom=Symptom.REFUSED,
        declared_cause="site-not-enabled",
        verdict=verdict,
        reason="",
        symptom_seen=symptom,
        detected_by=DetectedBy.PROBE,
        baseline=None,
        diagnosis=diagnosis,
        diagnosis_after=None,
        repair_steps=(),
        load_reports=(),
        timeline=Recorder().freeze([]),
        round_trips=(),
        time_to_detect=1.0,
        time_to_recover=2.0,
        duration=3.0,
        image="img",
        target="t",
        run_id="r",
        site=site,
    )


def test_junit_properties_name_the_site_drilled() -> None:
    item = _Item()
    record_properties(item, _result(Verdict.RECOVERED, site="tests/sites/dropper"))  # type: ignore[arg-type]
    assert ("harness.site", "tests/sites/dropper") in item.user_properties
    assert ("harness.verdict", "recovered") in item.user_properties


# -- one summary, consistent ----------------------------------------------------------------------------


def test_the_catalogue_summary_cannot_contradict_itself() -> None:
    # The run: every diagnosis right, 18 recovered, and yet two drills failed.
    results = [_result(Verdict.RECOVERED, name=f"s{i}") for i in range(17)]
    results.append(_result(Verdict.RECOVERED, name="wrong-symptom", symptom=Symptom.TIMEOUT))
    results.append(_result(Verdict.NOT_RECOVERED, name="stays-down"))
    accuracy = Accuracy.of(results)
    line = accuracy.line()
    assert line.startswith("17/19 passed (18 recovered, 1 not-recovered); 2 failed: ")
    assert "wrong-symptom (recovered)" in line and "stays-down (not-recovered)" in line
    assert "19/19 detected faults diagnosed correctly" in line
    counts = results_to_dict(results)["accuracy"]
    assert sum(counts["verdicts"].values()) == counts["finished"] == counts["passed"] + len(counts["failed"])
    assert counts["summary"] == line and counts["recovered"] == 18 and counts["passed"] == 17


def test_an_error_that_knows_its_figures_gives_them_in_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import _error_json
    from harness.errors import TargetNotReady

    error = TargetNotReady("target t did not serve its page")
    error.json_details = {"probes": [{"request": "GET shop.example.com/", "expected": 200, "got": 429}]}  # type: ignore[attr-defined]
    error.add_note("container log tail:\nline one")
    _error_json(HARNESS_ERROR, error, str(error))
    document = validated(capsys.readouterr().out, "error")
    assert document["error"]["details"]["probes"][0]["got"] == 429
    assert document["error"]["notes"] == ["container log tail:", "line one"]
    assert document["error"]["type"] == "TargetNotReady"


def test_a_rehearsal_on_a_site_records_the_site_for_its_postmortem(tmp_path: Path) -> None:
    from harness.gameday.watch import Watcher, WatchOptions

    class OnSite:
        run_id = "r"

        class site:
            folder = Path("/srv/our-site")

    watcher = Watcher(Rehearsal.create(tmp_path), OnSite(), WatchOptions("missing-symlink", False, 60))  # type: ignore[arg-type]
    assert watcher.state.site == "/srv/our-site"
    assert RehearsalState.from_dict(watcher.state.to_dict()).site == "/srv/our-site"
