"""Diagnosis rules on facts captured from real targets (no Docker)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.doctor import HEALTHY, UNKNOWN, diagnose
from harness.facts import EnabledSite, parse_facts

DATA = Path(__file__).parent / "data"


def facts(name: str):  # type: ignore[no-untyped-def]
    return parse_facts((DATA / f"facts-{name}.txt").read_text())


def test_healthy_target_is_diagnosed_healthy() -> None:
    diagnosis = diagnose(facts("healthy"))
    assert diagnosis.cause == HEALTHY
    assert "port 80: listened on by nginx" in diagnosis.evidence


def test_missing_link_is_named_with_its_evidence() -> None:
    diagnosis = diagnose(facts("site-not-enabled"))
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
    assert healthy.nginx_master is not None and healthy.nginx_master.pid == 20
    assert healthy.config_ok and healthy.service_running
    assert healthy.nginx_listens_on(80)
    assert healthy.available == ("default",)
    assert healthy.enabled == (EnabledSite("default", "link", "/etc/nginx/sites-available/default", True),)
    assert healthy.unlinked_sites() == ()
    assert facts("site-not-enabled").unlinked_sites() == ("default",)


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
    odd = replace(healthy, listeners=())  # nginx runs, all sites linked, yet nothing on :80
    assert diagnose(odd).cause == UNKNOWN


def test_cut_short_output_is_refused() -> None:
    text = (DATA / "facts-healthy.txt").read_text()
    with pytest.raises(ValueError, match="cut short"):
        parse_facts(text.split("@@harness-section listen")[0])
