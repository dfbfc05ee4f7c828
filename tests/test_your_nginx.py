"""Drill your own nginx (--site DIR): three configurations written for the tests, init --from, bad trees.

Each test site is drilled through a representative set of the scenarios that apply to it; CI drills
every applicable scenario of each (`.ci/run`), outside the test suite's time budget.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from harness.cli import BAD_INPUT, PASSED
from harness.errors import InvalidInput
from harness.session import Session
from harness.site import derive_probes, load_settings, load_site
from tests.helpers import containers_of_run, fresh_run_id, run_harness, validated

SITES = Path(__file__).parent / "sites"
NO_ENGINE = "unix:///nonexistent.sock"


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize(
    ("site", "scenarios"),
    [
        ("vhosts", ["missing-symlink", "listen-8080", "web-root-permissions", "bad-config-deploy", "stale-site-copy"]),
        ("proxy", ["upstream-port", "nginx-stopped", "conf-d-syntax-error", "worker-connections"]),
        ("tls", ["missing-symlink", "root-missing", "index-unreadable", "nginx-killed"]),
        ("php", ["parent-dir-locked", "nginx-stopped"]),
        # A default server that drops unknown names, a rate-limited shop: the lost site is answered by the dropper.
        ("dropper", ["include-typo", "latent-bad-config", "missing-symlink"]),
        # certbot's layout (its files stood in for), the official image's (user nginx, root inside the location),
        # WordPress on PHP-FPM (its root is read by FastCGI only, which the root scenarios do not count: see choice).
        ("certbot", ["missing-symlink", "index-unreadable", "nginx-killed"]),
        ("official", ["web-root-permissions", "log-dir-missing", "conf-d-syntax-error"]),
        ("wordpress", ["latent-bad-config", "stale-site-copy"]),
        ("inline", ["root-missing", "nginx-killed", "index-unreadable"]),
    ],
)
def test_a_teams_site_is_drilled_recovered_and_diagnosed(site: str, scenarios: list[str]) -> None:
    listed = validated(run_harness("list", "--site", str(SITES / site), "--json").stdout, "list")
    # A scenario that stopped applying would end the drill exit 2: name it here instead.
    assert not [(s["name"], s["why_not"]) for s in listed["scenarios"] if s["name"] in scenarios and not s["applies"]]
    run_id = fresh_run_id(f"site-{site}")
    done = run_harness(
        "drill", *scenarios, "--site", str(SITES / site), "--jobs", "2", "--json", HARNESS_RUN_ID=run_id, timeout=600
    )
    document = validated(done.stdout, "drill")
    said = [(r["scenario"], r["problems"]) for r in document["results"] if not r["passed"]]
    assert done.returncode == PASSED and not said, said or done.stderr[-2000:]
    for result in document["results"]:
        diagnosis = result["observed"]["diagnosis"]
        # Evidence names the team's own files, never the test server's.
        assert "/etc/nginx/sites-available/default" not in " ".join(diagnosis["evidence"])
    assert containers_of_run(run_id) == []


def test_a_drill_that_errored_is_reported_by_its_own_message_not_a_schema_error() -> None:
    error = {
        "schema": "error/1",
        "passed": False,
        "exit_code": 3,
        "error": {"kind": "harness-error", "type": "TargetNotReady", "message": "nginx never answered", "notes": []},
    }
    with pytest.raises(AssertionError, match="TargetNotReady: nginx never answered"):
        validated(json.dumps(error), "drill")


def test_list_says_which_scenarios_apply_to_a_site_and_why_not() -> None:
    listed = validated(run_harness("list", "--site", str(SITES / "proxy"), "--json").stdout, "list")
    by_name = {s["name"]: s for s in listed["scenarios"]}
    assert by_name["upstream-port"]["applies"] and by_name["nginx-stopped"]["applies"]
    assert not by_name["missing-symlink"]["applies"]
    assert "sites-enabled" in by_name["missing-symlink"]["why_not"]
    assert "test server" in by_name["bad-app-deploy"]["why_not"]
    # A one-client burst that the site's own limit_req turns away cannot show a load fault.
    dropper = validated(run_harness("list", "--site", str(SITES / "dropper"), "--json").stdout, "list")
    limited = {s["name"]: s for s in dropper["scenarios"]}
    assert not limited["worker-connections"]["applies"] and not limited["fd-limit"]["applies"]
    assert "rate limit" in limited["fd-limit"]["why_not"]


def test_a_scenario_that_cannot_apply_asked_by_name_is_bad_input() -> None:
    done = run_harness("drill", "missing-symlink", "--site", str(SITES / "proxy"), DOCKER_HOST=NO_ENGINE)
    assert done.returncode == BAD_INPUT
    (line,) = done.stderr.strip().splitlines()
    assert "does not apply to --site" in line and "sites-enabled" in line


def test_probes_follow_the_configuration() -> None:
    probes = {(p.host, p.path, p.scheme): p for p in derive_probes(load_site(SITES / "vhosts").model)}
    www = probes[("www.example.org", "/", "http")]
    assert www.status == 301 and dict(www.headers)["Location"] == "http://example.org"
    assert ("example.org", "/", "http") in probes and ("blog.example.org", "/", "http") in probes
    tls = {(p.host, p.scheme) for p in derive_probes(load_site(SITES / "tls").model)}
    assert tls == {("secure.example.net", "http"), ("secure.example.net", "https")}
    proxied = {p.path for p in derive_probes(load_site(SITES / "proxy").model)}
    assert proxied == {"/", "/api/"}
    php = load_site(SITES / "php")
    assert {(u.address, u.protocol) for u in php.upstreams()} == {
        ("unix:/run/php/php8.2-fpm.sock", "fastcgi"),
        ("127.0.0.1:9001", "fastcgi"),
    }


# -- bad trees: one line, exit 2 ------------------------------------------------------------------------


def _tree(tmp_path: Path, site: str, settings: str = "") -> Path:
    (tmp_path / "sites-available").mkdir()
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "sites-available" / "s").write_text(site)
    os.symlink("/etc/nginx/sites-available/s", tmp_path / "sites-enabled" / "s")
    if settings:
        (tmp_path / "harness-site.toml").write_text(textwrap.dedent(settings))
    return tmp_path


def test_a_settings_file_with_an_unknown_key_names_the_file_and_line(tmp_path: Path) -> None:
    folder = _tree(tmp_path, "server { listen 80; }\n", '[[probe]]\npath = "/"\nstaus = 200\n')
    with pytest.raises(InvalidInput, match=r"harness-site.toml:3: unknown key 'staus' in probe 1"):
        load_settings(folder)
    done = run_harness("drill", "nginx-stopped", "--site", str(folder), DOCKER_HOST=NO_ENGINE)
    assert done.returncode == BAD_INPUT and len(done.stderr.strip().splitlines()) == 1
    assert "harness-site.toml:3" in done.stderr


@pytest.mark.docker
@pytest.mark.parametrize(
    ("site", "settings", "said"),
    [
        ("server {\n  listen 80;\n  include /etc/nginx/snippets/missing.conf;\n}\n", "", "does not pass nginx -t"),
        ("server {\n  listen 80\n  root /srv;\n}\n", "", "does not pass nginx -t"),
        ("server { listen 8080; }\n", "", "serves neither port 80 nor 443"),
        ("server { listen 80; }\n", '[[probe]]\npath = "/"\nbody = "no such text"\n', "does not hold before any fault"),
    ],
    ids=["missing-include", "syntax-error", "no-port-80", "failing-probe"],
)
def test_a_bad_tree_is_one_line_of_bad_input(tmp_path: Path, site: str, settings: str, said: str) -> None:
    folder = _tree(tmp_path, site, settings)
    run_id = fresh_run_id("badsite")
    done = run_harness("drill", "nginx-stopped", "--site", str(folder), HARNESS_RUN_ID=run_id)
    assert done.returncode == BAD_INPUT, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("harness:")]
    assert len(lines) == 1 and said in lines[0], done.stderr
    if "nginx -t" in said:
        assert "/s:3" in lines[0] or "missing.conf" in lines[0]  # nginx's words, with file and line
    assert containers_of_run(run_id) == []


# -- adopting a real server ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.docker
def test_init_from_a_running_server_round_trips(tmp_path: Path) -> None:
    with Session(site=load_site(SITES / "vhosts")) as session, session.new_target() as target:
        target.exec(["sh", "-c", "echo '<h1>the real blog</h1>' > /srv/blog/index.html"], check=True)
        adopted = tmp_path / "adopted"
        done = run_harness("init", str(adopted), "--from", target.name)
        assert done.returncode == PASSED, done.stderr
    assert (adopted / "sites-enabled" / "example.org").is_symlink()
    assert (adopted / "content" / "srv" / "blog" / "index.html").read_text().strip() == "<h1>the real blog</h1>"
    assert '"/srv/blog" = "content/srv/blog"' in (adopted / "harness-site.toml").read_text()
    run_id = fresh_run_id("adopted")
    drilled = run_harness(
        "drill", "missing-symlink", "web-root-permissions", "--site", str(adopted), "--json", HARNESS_RUN_ID=run_id
    )
    document = json.loads(drilled.stdout)
    assert drilled.returncode == PASSED, drilled.stderr[-1500:]
    causes = {r["scenario"]: r["observed"]["diagnosis"]["cause"] for r in document["results"]}
    assert causes == {"missing-symlink": "site-not-enabled", "web-root-permissions": "web-root-unreadable"}


def test_init_writes_a_commented_example_that_lists_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    assert run_harness("init", str(folder)).returncode == PASSED
    listed = json.loads(run_harness("list", "--site", str(folder), "--json").stdout)
    assert {s["name"] for s in listed["scenarios"] if s["applies"]} >= {"missing-symlink", "upstream-port"}
    assert run_harness("init", str(folder)).returncode == BAD_INPUT  # not over an existing tree


# -- pytest ------------------------------------------------------------------------------------------


@pytest.mark.docker
def test_a_teams_suite_drills_its_site_with_the_same_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_catalogue(harness_each_scenario, harness_drill):
            result = harness_drill(harness_each_scenario)
            assert result.passed, result.problems()
        """
    )
    pytester.makeini(f"[pytest]\nharness_site = {SITES / 'vhosts'}\n")
    result = pytester.runpytest("-k", "missing-symlink or bad-app-deploy", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)
