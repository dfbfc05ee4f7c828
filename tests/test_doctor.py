"""Diagnosis rules on facts captured from real targets (no Docker)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.causes import registry
from harness.doctor import HEALTHY, UNEXPLAINED, UNKNOWN, Request, diagnose, examine
from harness.facts import COLLECT_SCRIPT, EnabledSite, parse_facts
from harness.scenario import load_catalogue
from harness.symptom import Symptom
from harness.target import Target

DATA = Path(__file__).parent / "data"


def facts(name: str):  # type: ignore[no-untyped-def]
    return parse_facts((DATA / f"facts-{name}.txt").read_text())


def measured(name: str) -> tuple[tuple[str, ...], tuple[Request, ...]]:
    """What the probe saw when the facts were captured (their first line), as the drill hands it to the doctor."""
    first = (DATA / f"facts-{name}.txt").read_text().splitlines()[0]
    if not first.startswith("# measured: "):
        return (), ()
    path, said = first.removeprefix("# measured: ").split("\t", 1)
    return (said,), (Request(path),)


CATALOGUE = load_catalogue()
LOAD = ("a load burst: 37 of 2000 requests failed (refused)",), (Request("/"),)


@pytest.mark.parametrize("name", CATALOGUE.names())
def test_every_scenario_is_diagnosed_blind_from_what_its_target_showed(name: str) -> None:
    """Facts captured from a real target broken by NAME (tests/data/capture_facts.py); the doctor sees only them."""
    path = DATA / f"facts-{name}.txt"
    assert path.exists(), f"no captured facts for {name}: run tests/data/capture_facts.py {name}"
    scenario = CATALOGUE.scenarios[name]
    seen, requests = LOAD if scenario.symptom is Symptom.FAILS_UNDER_LOAD else measured(name)
    diagnosis = diagnose(parse_facts(path.read_text()), seen, requests)
    assert diagnosis.cause == scenario.cause, diagnosis.summary
    assert diagnosis.cause != HEALTHY


def test_the_decoys_are_examined_and_set_aside() -> None:
    diagnosis = diagnose(facts("misleading-path"))
    assert diagnosis.cause == "site-not-enabled"
    ruled_out = " ".join(diagnosis.ruled_out)
    assert "psycopg2.OperationalError" in ruled_out or "pool exhausted" in ruled_out
    assert "recent app deploy" in ruled_out
    assert all(note in diagnosis.evidence for note in diagnosis.ruled_out)
    # The plain outage has no decoys to set aside.
    assert diagnose(facts("missing-symlink")).ruled_out == ()


def test_hung_is_told_apart_from_dead() -> None:
    hung, killed = diagnose(facts("nginx-hung")), diagnose(facts("nginx-killed"))
    assert hung.cause == "nginx-hung" and "stopped (SIGSTOP)" in hung.evidence[0]
    assert killed.cause == "nginx-crashed" and "pid file names dead pid" in killed.evidence[0]


def test_latent_fault_is_flagged_while_nginx_serves() -> None:
    latent = facts("latent-bad-config")
    assert latent.nginx_listens_on(80) and latent.local("http://127.0.0.1:80/") == "200"
    diagnosis = diagnose(latent)
    assert diagnosis.cause == "latent-config-invalid"
    assert "/etc/nginx/sites-available/default" in diagnosis.summary


def test_healthy_target_is_diagnosed_healthy() -> None:
    diagnosis = diagnose(facts("healthy"))
    assert diagnosis.cause == HEALTHY
    assert "port 80: listened on by nginx" in diagnosis.evidence


def test_missing_link_is_named_with_its_evidence() -> None:
    diagnosis = diagnose(facts("missing-symlink"))
    assert diagnosis.cause == "site-not-enabled"
    assert "sites-available/default" in diagnosis.summary
    # The evidence shows the misleading signals it looked past: nginx runs and its config passes.
    assert "nginx -t: passes" in diagnosis.evidence
    assert "service nginx status: running" in diagnosis.evidence
    assert "port 80: nothing listens" in diagnosis.evidence


def test_stopped_nginx_is_not_a_missing_link() -> None:
    assert diagnose(facts("nginx-stopped")).cause == "nginx-not-running"


def test_parsed_facts_match_the_server() -> None:
    healthy = facts("healthy")
    assert healthy.nginx_master is not None and healthy.nginx_master.pid == healthy.pidfile_pid
    assert not healthy.stale_pidfile
    assert healthy.worker_connections == 768
    assert [(r.path, r.worker_can_read, r.index_files) for r in healthy.docroots] == [
        ("/var/www/html", True, ("index.html",))
    ]
    assert healthy.local("http://127.0.0.1:80/app/") == "200"
    assert healthy.inside.upstreams == {"http://127.0.0.1:9000/": "200"}
    assert not healthy.firewall_readable  # no NET_ADMIN unless a scenario asks for it
    assert healthy.config_ok and healthy.service_running
    assert healthy.nginx_listens_on(80)
    assert healthy.available == ("default",)
    assert healthy.enabled == (EnabledSite("default", "link", "/etc/nginx/sites-available/default", True),)
    assert healthy.unlinked_sites() == ()
    assert facts("missing-symlink").unlinked_sites() == ("default",)


def test_a_hung_master_is_not_healthy() -> None:
    healthy = facts("healthy")
    master = healthy.nginx_master
    assert master is not None
    stopped = replace(master, stat="T")
    hung = replace(healthy, processes=tuple(stopped if p == master else p for p in healthy.processes))
    assert diagnose(hung).cause not in (HEALTHY, "site-not-enabled")


def test_dangling_link_is_not_healthy() -> None:
    healthy = facts("healthy")
    dangling = replace(healthy, enabled=(EnabledSite("default", "link", "/etc/nginx/sites-available/gone", False),))
    assert dangling.dangling_links()
    assert diagnose(dangling).cause != HEALTHY


def test_nothing_matching_is_unknown_not_healthy() -> None:
    healthy = facts("healthy")
    # nginx runs, all sites linked, its config on disk names no port 80, yet the model does: nothing fits
    odd = replace(healthy, listeners=(), directives=())
    assert diagnose(odd).cause == UNKNOWN


def test_cut_short_output_is_refused() -> None:
    text = (DATA / "facts-healthy.txt").read_text()
    with pytest.raises(ValueError, match="cut short"):
        parse_facts(text.split("@@harness-section listen")[0])


def shipped_sections() -> list[str]:
    """The sections the shipped collection script writes, with those the installed units add: never a copied list."""
    script = COLLECT_SCRIPT + registry().collect_lines()
    return sorted(set(re.findall(r"^s ([a-z0-9][a-z0-9-]*);", script, flags=re.MULTILINE)))


def test_the_fuzzed_sections_are_read_from_the_shipped_script() -> None:
    sections = shipped_sections()
    assert {"ps", "configtest", "listen", "firewall", "errorlog", "conftar"} <= set(sections), sections


LINE = st.one_of(
    st.text(max_size=60),
    st.text(max_size=10).map(lambda t: "exit=" + t),
    st.lists(st.text(max_size=12), min_size=2, max_size=6).map("\t".join),
    st.lists(st.text(max_size=12), min_size=4, max_size=8).map(" ".join),
)
BODY = st.lists(LINE, max_size=6).map("\n".join)
MEASURED = st.sampled_from([(), ("the probe: connection refused",), ("the probe: HTTP 502 for /app/",)])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(shipped_sections()), BODY), max_size=12), MEASURED)
def test_any_finished_output_gets_a_known_verdict_and_never_healthy_during_an_outage(
    chunks: list[tuple[str, str]], measured: tuple[str, ...]
) -> None:
    """Whatever a broken server prints into the checks, the doctor names a cause it knows or says it cannot,
    and a failure measured from outside is never answered with "healthy" (the worst answer a drill can get)."""
    text = "".join(f"\n@@harness-section {name}\n{body}\n" for name, body in chunks) + "\n@@harness-section end\n"
    diagnosis = diagnose(parse_facts(text), measured=measured)
    assert diagnosis.cause in {c.id for c in registry().causes} | {HEALTHY, UNKNOWN, UNEXPLAINED}
    assert diagnosis.evidence
    if measured:
        assert diagnosis.cause != HEALTHY, diagnosis


def test_only_the_deploy_tools_backups_of_that_exact_file_are_rollback_candidates() -> None:
    site = "/etc/nginx/sites-available/default"
    kept = replace(
        facts("healthy"),
        backups=(
            f"20261127T010000Z{site}",
            f"20261127T020000Z/srv{site}",  # another file whose path merely ends the same
            f"rejected/20261127T030000Z{site}",  # a remedy's copy of a broken file
            f"20261127T040000Z{site}",
        ),
    )
    assert kept.backups_of(site) == (
        f"/var/backups/nginx/20261127T040000Z{site}",
        f"/var/backups/nginx/20261127T010000Z{site}",
    )


def test_workers_stopped_under_a_running_master_are_a_hang_not_unexplained() -> None:
    healthy = facts("healthy")
    stopped = tuple(
        replace(p, stat="T") if p.comm == "nginx" and "worker process" in p.args else p for p in healthy.processes
    )
    diagnosis = diagnose(
        replace(healthy, processes=stopped), ("the probe: timeout",), (Request("/", symptom="timeout"),)
    )
    assert diagnosis.cause == "nginx-hung", diagnosis.summary
    assert "of its" in diagnosis.summary and "worker processes are stopped" in diagnosis.summary
    assert diagnosis.traces and diagnosis.traces[0].broken is not None
    assert "every worker is stopped" in diagnosis.traces[0].broken.detail


# -- never healthy during a measured outage ------------------------------------------------------------


def test_a_measured_failure_the_checks_cannot_explain_is_unexplained_not_healthy() -> None:
    healthy = facts("healthy")
    assert diagnose(healthy).cause == HEALTHY
    failing = "the probe: GET /app/: HTTP 502"
    diagnosis = diagnose(healthy, [failing])
    assert diagnosis.cause == UNEXPLAINED and not diagnosis.healthy
    assert failing in diagnosis.summary
    assert f"measured from outside: {failing}" in diagnosis.evidence


# -- summaries say what was observed -------------------------------------------------------------------


def test_app_down_summary_states_the_code_that_was_seen() -> None:
    crashing = facts("bad-app-deploy")
    traced = diagnose(crashing)
    assert traced.cause == "app-release-crashing"
    assert "127.0.0.1:9000/ does not answer" in traced.summary and "502" not in traced.summary
    # Without a trace to go on, it says what the fetch inside got: here a 404, never a 502 nobody saw.
    fetched = tuple(replace(f, code="404") if f.url.endswith("/app/") else f for f in crashing.inside.fetches)
    quiet = replace(crashing, inside=replace(crashing.inside, upstreams={}, fetches=fetched), local_status=())
    from harness.facts import with_inside

    diagnosis = diagnose(with_inside(quiet, quiet.inside))
    assert diagnosis.cause == "app-release-crashing"
    assert "404 from http://127.0.0.1:80/app/" in diagnosis.summary and "502" not in diagnosis.summary


# -- a one-line server block ---------------------------------------------------------------------------


@pytest.mark.docker
def test_a_root_inside_a_one_line_server_block_is_read(harness_target: Target) -> None:
    one_line = "server { listen 8081; root /srv/oneline; index index.html; location / { try_files $uri =404; } }\n"
    harness_target.write_file("/etc/nginx/conf.d/oneline.conf", one_line.encode())
    harness_target.exec(["mkdir", "-p", "/srv/oneline"], check=True)
    harness_target.exec(["nginx", "-s", "reload"], check=True)
    diagnosis = examine(harness_target)
    assert any(root.path == "/srv/oneline" for root in diagnosis.facts.docroots), diagnosis.evidence
