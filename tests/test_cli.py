"""The `harness` command as users run it: output, exit codes, and nothing left behind."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click
import pytest
from rich.console import Console

import docker
from harness import __version__, ownership
from harness.catalogue import load_catalogue
from harness.cli import BAD_INPUT, HARNESS_ERROR, PASSED, progress
from harness.doctor import diagnose
from harness.facts import parse_facts
from harness.outcome import Result, Verdict
from harness.report import Accuracy, render_result
from harness.symptom import Symptom
from tests.helpers import containers_of_run, fresh_run_id, run_harness, single_drill, validated


def test_list_shows_symptom_and_cause() -> None:
    done = run_harness("list", "--json")
    assert done.returncode == PASSED, done.stderr
    listed = {s["name"]: s for s in json.loads(done.stdout)["scenarios"]}
    assert listed["missing-symlink"]["symptom"] == "refused"
    assert listed["missing-symlink"]["cause"] == "site-not-enabled"


def test_unknown_scenario_is_one_line_naming_the_known_ones() -> None:
    done = run_harness("drill", "missing-symlnk")
    assert done.returncode == BAD_INPUT
    assert done.stderr.strip().splitlines() == [
        "harness: unknown scenario 'missing-symlnk'; did you mean 'missing-symlink'? "
        f"(known scenarios: {', '.join(load_catalogue().names())})"
    ]


def test_bad_setting_is_bad_input() -> None:
    done = run_harness("drill", "missing-symlink", HARNESS_PROBE_INTERVAL="soon")
    assert done.returncode == BAD_INPUT
    assert len(done.stderr.strip().splitlines()) == 1
    assert "HARNESS_PROBE_INTERVAL='soon' is not a number" in done.stderr


def test_no_engine_is_one_line_saying_how_to_start_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    socket_path = tmp_path / "docker.sock"
    done = run_harness("drill", "missing-symlink", DOCKER_HOST=f"unix://{socket_path}")
    assert done.returncode == HARNESS_ERROR
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"no Docker engine answers at unix://{socket_path}" in lines[0]
    assert "start one" in lines[0]


@pytest.mark.docker
def test_drill_prints_a_recovered_result_and_leaves_nothing() -> None:
    run_id = fresh_run_id("cli")
    done = run_harness("drill", "missing-symlink", "--json", HARNESS_RUN_ID=run_id)
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    assert result["verdict"] == "recovered" and result["passed"]
    assert result["observed"]["symptom"] == "refused"
    assert result["observed"]["diagnosis"]["cause"] == "site-not-enabled"
    times = result["times"]
    assert 0 < times["time_to_detect_s"] < times["time_to_recover_s"] < times["duration_s"]
    events = [e["event"] for e in result["timeline"]["events"]]
    # Service may come back before the repair's last command returns: both orders are true timelines.
    assert events[:6] == ["target-started", "steady", "injected", "detected", "diagnosed", "repair-started"]
    assert sorted(events[6:8]) == ["recovered", "repaired"]
    assert events[8:] == ["torn-down"]
    assert containers_of_run(run_id) == []


@pytest.mark.docker
def test_terminal_report_names_both_times() -> None:
    done = run_harness("drill", "missing-symlink", HARNESS_RUN_ID=fresh_run_id("cli"))
    assert done.returncode == PASSED, done.stderr
    assert "time to detect:" in done.stdout and "time to recover:" in done.stdout
    assert "RECOVERED" in done.stdout


@pytest.mark.docker
def test_sweep_removes_orphans_and_spares_live_runs(harness_session) -> None:  # type: ignore[no-untyped-def]
    client = docker.from_env()
    dead_owner = ownership.owner_token(pid=2**22 + 7)  # above pid_max: that owner cannot be alive
    orphan_run, live_run = fresh_run_id("orphan"), fresh_run_id("live")
    image = harness_session.image.tag
    orphan = client.containers.create(
        image, labels={ownership.MANAGED: "true", ownership.RUN: orphan_run, ownership.OWNER: dead_owner}
    )
    live = client.containers.create(image, labels=ownership.labels_for(live_run))
    try:
        done = run_harness("sweep")
        assert done.returncode == PASSED, done.stderr
        assert f"removed container {orphan.name} (run {orphan_run})" in done.stdout
        assert containers_of_run(orphan_run) == []
        assert containers_of_run(live_run) == [live.name]
    finally:
        live.remove(force=True)
        client.close()


@pytest.mark.parametrize("args", [("drill",), ("drill", "missing-symlink", "--all")])
def test_drill_needs_exactly_one_of_a_scenario_or_all(args: tuple[str, ...]) -> None:
    done = run_harness(*args)
    assert done.returncode == BAD_INPUT
    assert "name a SCENARIO (or several) or pass --all" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.docker
def test_several_scenarios_end_with_the_catalogue_table_and_accuracy() -> None:
    run_id = fresh_run_id()
    done = run_harness("drill", "nginx-stopped", "nginx-killed", "--json", HARNESS_RUN_ID=run_id)
    assert done.returncode == PASSED, done.stderr
    report = json.loads(done.stdout)
    assert [r["scenario"] for r in report["results"]] == ["nginx-stopped", "nginx-killed"]
    assert (
        report["accuracy"]["summary"]
        == "2/2 passed (2 recovered); 2/2 detected faults diagnosed correctly, 0 false alarms on 2 healthy targets"
    )
    assert "[2/2] nginx-killed: ok (recovered" in done.stderr
    assert containers_of_run(run_id) == []


def test_the_help_listing_says_what_each_command_says_of_itself() -> None:
    """`harness --help` lists commands from a table, so as not to import them: it must not drift from them."""
    from harness.cli import COMMANDS, cli

    context = click.Context(cli)
    for name, (module, about) in COMMANDS.items():
        command = cli.get_command(context, name)
        assert command is not None and command.callback is not None, name
        assert command.callback.__module__ == module, name
        first = " ".join((command.help or "").split("\n\n")[0].split())
        assert first == about, name


DATA = Path(__file__).parent / "data"


def _facts(name: str) -> str:
    return (DATA / f"facts-{name}.txt").read_text()


# -- an interrupted catalogue's accuracy --------------------------------------------------------------


def _result(cause: str | None, verdict: Verdict, declared: str = "site-not-enabled") -> Result:
    """A Result as a drill leaves it, built from a captured diagnosis (no Docker)."""
    from harness.timeline import Recorder

    diagnosis = diagnose(parse_facts(_facts("missing-symlink"))) if cause else None
    if diagnosis is not None and cause != diagnosis.cause:
        diagnosis = replace(diagnosis, cause=cause)
    return Result(
        scenario="missing-symlink",
        summary="",
        declared_symptom=Symptom.REFUSED,
        declared_cause=declared,
        verdict=verdict,
        reason="",
        symptom_seen=None,
        detected_by=None,
        baseline=None,
        diagnosis=diagnosis,
        diagnosis_after=None,
        repair_steps=(),
        load_reports=(),
        timeline=Recorder().freeze([]),
        round_trips=(),
        time_to_detect=None,
        time_to_recover=None,
        duration=0.5,
        image="img",
        target="t",
        run_id="r",
    )


def test_an_interrupted_drill_without_a_diagnosis_is_not_counted_as_correct() -> None:
    interrupted = _result(None, Verdict.INTERRUPTED)
    accuracy = Accuracy.of([interrupted], planned=16)
    assert accuracy.correct == 0 and accuracy.diagnosed == 0
    assert accuracy.line().startswith("0/0 passed (none finished); 0/0 detected faults diagnosed correctly")
    assert "interrupted after 0 of 16 drills (1 interrupted while running, 15 never started)" in accuracy.line()
    finished = Accuracy.of([_result("site-not-enabled", Verdict.RECOVERED), interrupted], planned=2)
    assert "(1 recovered)" in finished.line() and "; 1/1 detected faults diagnosed correctly" in finished.line()


# -- square brackets survive ---------------------------------------------------------------------------


def test_text_from_servers_fixes_and_people_keeps_its_square_brackets() -> None:
    said = "nginx -t: fails: 2026/11/27 19:43:22 [emerg] 81#81: directive"
    console = Console(record=True, width=200)
    from harness import cli

    original = cli.stderr
    cli.stderr = console
    try:
        progress(said)
    finally:
        cli.stderr = original
    assert "[emerg]" in console.export_text()

    facts = parse_facts(_facts("bad-config-deploy"))
    result = replace(_result("config-invalid", Verdict.NOT_RECOVERED), reason=said)
    result = replace(result, diagnosis=diagnose(facts))
    console = Console(record=True, width=300)
    render_result(result, console)
    assert "[emerg]" in console.export_text()


# -- the command line ------------------------------------------------------------------------


def test_version() -> None:
    done = run_harness("--version")
    assert done.returncode == PASSED and done.stdout.strip() == f"harness {__version__}"


def test_verbose_after_the_subcommand_shows_only_harness_lines() -> None:
    assert run_harness("list", "-v").returncode == PASSED
    done = run_harness("drill", "missing-symlink", "-v", DOCKER_HOST="unix:///nonexistent.sock")
    assert done.returncode == HARNESS_ERROR
    assert "urllib3" not in done.stderr and " docker." not in done.stderr


def test_every_json_output_without_an_engine_follows_its_schema(tmp_path: Path) -> None:
    validated(run_harness("list", "--json").stdout, "list")
    validated(run_harness("history", "--json", HARNESS_RESULTS=str(tmp_path / "none.sqlite")).stdout, "history")


def test_a_scenario_named_twice_is_refused() -> None:
    done = run_harness("drill", "missing-symlink", "missing-symlink", DOCKER_HOST="unix:///nonexistent.sock")
    assert done.returncode == BAD_INPUT and "named twice" in done.stderr
