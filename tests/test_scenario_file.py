"""Scenarios written in YAML: validated with file, line and key; drilled, listed, verified and rehearsed as any."""

from __future__ import annotations

import re
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from harness import schemas
from harness.catalogue import load_catalogue
from harness.choice import NEEDS
from harness.cli import BAD_INPUT, PASSED
from harness.errors import InvalidInput
from harness.scenario_file import load_file
from harness.symptom import Symptom
from tests.helpers import otlp_collector, run_harness, validated
from tests.test_gameday import gameday, started, status, wait_until_over

HERE = Path(__file__).parent
CONVERTED = HERE / "scenarios"  # two built-in scenarios, written as files
EXAMPLE_PAGE = HERE.parent / "docs" / "scenarios.md"


def docs_example() -> str:
    """The scenario file the docs show, as a user would copy it."""
    blocks = re.findall(r"```yaml\n(.*?)```", EXAMPLE_PAGE.read_text(), flags=re.S)
    (example,) = [b for b in blocks if b.startswith("# my-outage.yaml")]
    return example


def test_the_schema_knows_every_symptom_and_need() -> None:
    schema = schemas.load("scenario")
    assert schema["properties"]["symptom"]["enum"] == [s.value for s in Symptom]
    assert schema["properties"]["needs"]["items"]["enum"] == list(NEEDS)


def test_the_docs_example_and_the_converted_scenarios_load() -> None:
    for path in sorted(CONVERTED.glob("*.yaml")):
        loaded = load_file(path)
        assert loaded.name.endswith("-yaml") and loaded.injection
    assert load_file_text(docs_example(), Path("/tmp")).name == "link-lost-in-deploy"


def load_file_text(text: str, folder: Path) -> type:
    path = folder / "scenario.yaml"
    path.write_text(text)
    return load_file(path)


GOOD = """\
name: demo
summary: stops nginx
symptom: refused
cause: nginx-not-running
inject:
  - run: [service, nginx, stop]
    timeout: 20
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("cause: nginx-not-running\n", ""), r"scenario\.yaml:1: the file: 'cause' is a required property"),
        (("timeout: 20", "timeout: -1"), r"scenario\.yaml:7: inject\[0\]\.timeout: -1 is less than or equal to"),
        (("symptom: refused", "symptom: broken"), r"scenario\.yaml:3: symptom: 'broken' is not one of \['refused'"),
        (("name: demo", "name: Demo Scenario"), r"scenario\.yaml:1: name: 'Demo Scenario' does not match"),
        # A misspelt key is named on its own line, with the key it was meant to be.
        (
            ("    timeout: 20\n", "    timout: 20\n"),
            r"scenario\.yaml:7: inject\[0\]\.timout: unknown key 'timout'; did you mean 'timeout'",
        ),
        (
            ("cause: nginx-not-running", "caues: nginx-not-running"),
            r"scenario\.yaml:4: caues: unknown key 'caues'; did you mean 'cause'",
        ),
        # A cause the doctor cannot name is a typo at load, not a failed drill at its end.
        (
            ("cause: nginx-not-running", "cause: nginx-not-runing"),
            r"scenario\.yaml:4: cause: 'nginx-not-runing' is not a cause .*; did you mean 'nginx-not-running'",
        ),
        (
            ("cause: nginx-not-running", "cause: cache-poisoned"),
            r"scenario\.yaml:4: cause: 'cache-poisoned' is not a cause .*new_cause: true",
        ),
        (
            ("summary: stops nginx", "summary: stops {{ rooot }}"),
            r"scenario\.yaml:2: summary: unknown placeholder \{\{ rooot \}\}",
        ),
        (("[service, nginx, stop]", "[service, '{{ nginx_pid }}', stop]"), r"scenario\.yaml:6: inject\[0\]: unknown"),
        (("inject:\n", "inject: [\n"), r"scenario\.yaml:\d+: not valid YAML"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(InvalidInput) as caught:
        load_file_text(text, tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(expected, message), message


def test_a_new_cause_is_accepted_when_declared_new_and_a_summary_names_what_breaks(tmp_path: Path) -> None:
    from harness.choice import TEST_SERVER

    text = GOOD.replace("cause: nginx-not-running", "cause: cache-poisoned\nnew_cause: true")
    text = text.replace("summary: stops nginx", "summary: moves {{ root }} away")
    loaded = load_file_text(text, tmp_path)
    assert loaded.cause == "cache-poisoned"

    class Server:
        choice = TEST_SERVER

    assert loaded().describe(Server()) == "moves /var/www/html away"  # type: ignore[arg-type]


def test_a_bad_file_exits_2_from_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("symptom: refused", "symptom: 42"))
    done = run_harness("drill", str(bad))
    assert done.returncode == BAD_INPUT
    assert f"{bad}:3: symptom: 42 is not one of" in done.stderr
    assert "Traceback" not in done.stderr
    missing = run_harness("drill", str(tmp_path / "nope.yaml"))
    assert missing.returncode == BAD_INPUT and "does not exist" in missing.stderr


def test_a_folder_of_files_joins_the_catalogue_and_a_broken_one_is_listed(tmp_path: Path) -> None:
    (tmp_path / "demo.yaml").write_text(GOOD)
    (tmp_path / "clash.yaml").write_text(GOOD.replace("name: demo", "name: missing-symlink"))
    (tmp_path / "broken.yml").write_text("name: [")
    (tmp_path / "notes.txt").write_text("not a scenario")
    catalogue = load_catalogue(folders=[tmp_path])
    assert "demo" in catalogue.names() and "missing-symlink" in catalogue.names()
    assert catalogue.scenarios["missing-symlink"].__module__ == "scenarios.missing_symlink"
    broken = {Path(p.distribution).name: str(p) for p in catalogue.broken}
    assert set(broken) == {"clash.yaml", "broken.yml"}
    assert "already taken" in broken["clash.yaml"] and "not valid YAML" in broken["broken.yml"]
    listed = validated(run_harness("list", "--json", HARNESS_SCENARIOS=str(tmp_path)).stdout, "list")
    demo = next(s for s in listed["scenarios"] if s["name"] == "demo")
    assert demo["source"] == str((tmp_path / "demo.yaml").resolve())
    assert {Path(b["distribution"]).name for b in listed["broken"]} == {"clash.yaml", "broken.yml"}


@pytest.mark.docker
def test_converted_scenarios_get_the_verdicts_of_the_python_ones() -> None:
    names = [
        "missing-symlink",
        "nginx-stopped",
        str(CONVERTED / "missing-symlink.yaml"),
        str(CONVERTED / "nginx-stopped.yaml"),
    ]
    done = run_harness("drill", *names, "--jobs", "2", "--json")
    assert done.returncode == PASSED, done.stderr
    results = {r["scenario"]: r for r in validated(done.stdout, "drill")["results"]}

    def verdicts(name: str) -> tuple[object, ...]:
        r = results[name]
        observed = r["observed"]
        return r["verdict"], r["passed"], observed["symptom"], observed["detected_by"], observed["diagnosis"]["cause"]

    for name in ("missing-symlink", "nginx-stopped"):
        assert verdicts(f"{name}-yaml") == verdicts(name)


@pytest.mark.docker
def test_the_docs_example_drills_to_a_pass_and_a_fix_is_verified_against_it(tmp_path: Path) -> None:
    example = tmp_path / "my-outage.yaml"
    example.write_text(docs_example())
    drilled = run_harness("drill", str(example), "--json")
    assert drilled.returncode == PASSED, drilled.stderr
    (result,) = validated(drilled.stdout, "drill")["results"]
    assert result["scenario"] == "link-lost-in-deploy" and result["passed"]
    fix = tmp_path / "relink.sh"
    fix.write_text(
        textwrap.dedent(
            """\
            ln -sfn /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
            service nginx reload
            """
        )
    )
    verified = run_harness("verify-fix", str(example), str(fix), "--json")
    report = validated(verified.stdout, "verify-fix")
    assert verified.returncode == PASSED and report["passed"], verified.stderr
    assert report["scenario"] == "link-lost-in-deploy"


@pytest.mark.docker
def test_a_step_that_fails_ends_the_drill_naming_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(GOOD.replace("[service, nginx, stop]", "[sh, -c, 'echo no such service; exit 3']"))
    done = run_harness("drill", str(path), "--json")
    (result,) = validated(done.stdout, "drill")["results"]
    assert result["verdict"] == "error"
    assert (
        f"the injection of demo ({path}:6): `sh -c echo no such service; exit 3` exited 3: no such service"
        in (result["reason"])
    )


@pytest.mark.docker
def test_a_file_scenario_is_rehearsed_and_the_rehearsal_traced(tmp_path: Path) -> None:
    results = str(tmp_path / "results.sqlite")
    with otlp_collector() as (endpoint, received):
        proc = gameday(results, "start", str(CONVERTED / "nginx-stopped.yaml"), "--no-dashboard", "--time-limit", "2m",
                       OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)  # fmt: skip
        assert proc.returncode == PASSED, proc.stderr
        assert "scenario nginx-stopped-yaml" in proc.stdout
        rehearsal = started(proc)
        target = status(results, rehearsal)["target"]
        subprocess.run(["docker", "exec", target, "service", "nginx", "start"], check=True, capture_output=True)
        final = wait_until_over(results, rehearsal)
        assert final["status"] == "recovered" and final["scenario"] == "nginx-stopped-yaml"
        deadline = time.monotonic() + 10
        while b"gameday nginx-stopped-yaml" not in b"".join(received) and time.monotonic() < deadline:
            time.sleep(0.1)  # the watcher sends its trace as it exits
    assert b"gameday nginx-stopped-yaml" in b"".join(received)
