"""Scenarios break what a probe uses, on a port nothing uses, and say what they broke: drilled for real.

The choices themselves are tested without Docker in test_choice.py; here the drills prove a probe sees each
fault, the doctor names it and the repair holds, on sites whose shapes the first catalogue got wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import PASSED
from tests.helpers import containers_of_run, fresh_run_id, run_harness, validated

SITES = Path(__file__).parent / "sites"


def _drill(site: Path, *scenarios: str) -> dict[str, dict]:  # type: ignore[type-arg]
    run_id = fresh_run_id(f"breaks-{site.name}")
    done = run_harness(
        "drill", *scenarios, "--site", str(site), "--jobs", "2", "--json", HARNESS_RUN_ID=run_id, timeout=900
    )
    document = validated(done.stdout, "drill")
    failed = [(r["scenario"], r["problems"]) for r in document["results"] if not r["passed"]]
    assert done.returncode == PASSED and not failed, failed or done.stderr[-2000:]
    assert containers_of_run(run_id) == []
    return {r["scenario"]: r for r in document["results"]}


@pytest.mark.docker
@pytest.mark.slow
def test_the_init_example_is_drilled_on_a_port_its_upstream_does_not_use(tmp_path: Path) -> None:
    folder = tmp_path / "example"
    assert run_harness("init", str(folder)).returncode == PASSED
    results = _drill(folder, "listen-8080", "stale-site-copy", "upstream-port")
    # The example proxies /api/ to 127.0.0.1:8080: the site moves to 8081 instead, and the doctor says so.
    assert "listen on 8081 instead of 80" in results["listen-8080"]["summary"]
    assert "listens on 8081" in results["stale-site-copy"]["summary"]
    assert "sites-available/example:17 127.0.0.1:8080 -> 127.0.0.1:18080" in results["upstream-port"]["summary"]
    causes = {name: r["observed"]["diagnosis"]["cause"] for name, r in results.items()}
    assert causes == {
        "listen-8080": "site-listens-elsewhere",
        "stale-site-copy": "stale-site-copy",
        "upstream-port": "upstream-unreachable",
    }


@pytest.mark.docker
@pytest.mark.slow
def test_a_proxy_with_several_locations_is_broken_where_a_probe_goes(tmp_path: Path) -> None:
    results = _drill(SITES / "multiproxy", "upstream-port", "root-missing", "listen-8080")
    upstream = results["upstream-port"]
    # /admin/ (an upstream block of one unix socket) comes first; the probe of /admin/ sees the 502.
    assert "unix:/run/admin/old-admin.sock" in upstream["summary"]
    assert upstream["observed"]["diagnosis"]["cause"] == "upstream-unreachable"
    # The root set inside `location /static/` (the official image's shape), not a server-level one.
    assert "app.example.com:31: /var/www/assets switched to" in results["root-missing"]["summary"]
    # `listen *:80` and `listen [::]:80 ipv6only=on` both move, read from the model (no regex ValueError).
    assert results["listen-8080"]["observed"]["diagnosis"]["cause"] == "site-listens-elsewhere"
    for result in results.values():
        assert "sites-available/default" not in result["summary"] and "/var/www/html" not in result["summary"]
    journal = json.dumps(results)
    assert "sites-available/default renamed" not in journal
