"""The probes a site gets, shown before any drill: what each expects, why, and what the preflight says of them."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from harness.cli import PASSED
from harness.session import Session
from harness.site import load_site
from tests.helpers import run_harness

SITES = Path(__file__).parent / "sites"


def test_harness_site_shows_each_probe_what_it_expects_why_and_its_pace() -> None:
    done = run_harness("site", str(SITES / "limits"), "--json", DOCKER_HOST="unix:///nonexistent.sock")
    assert done.returncode == PASSED, done.stderr
    plan = json.loads(done.stdout)
    rows = {row["request"]: row for row in plan["probes"]}
    dropped = rows["http://(default)/"]
    assert dropped["expects"] == "the connection closed without an answer (return 444)"  # never "200"
    assert dropped["why"].endswith("sites-available/catchall:6")
    www = rows["http://www.example.com/"]
    assert "recorded" in www["expects"] and "one request every 0.4 s" in www["pace"]
    assert "limit_req zone=pages (5r/s, burst 2" in www["pace"] and "www.example.com:9" in www["pace"]
    assert "no limit" in rows["http://blog.example.com/"]["pace"]
    assert not any("localhost" in request for request in rows)
    assert "127.0.0.1:80" in plan["not_probed"][0]
    table = run_harness("site", str(SITES / "limits"), DOCKER_HOST="unix:///nonexistent.sock")
    assert table.returncode == PASSED and "not probed" in table.stdout and "load bursts" in table.stdout


def _host_root_site(tmp_path: Path, settings: str = "") -> Path:
    (tmp_path / "sites-available").mkdir(parents=True)
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "sites-available" / "hosts").write_text(
        "server {\n    listen 80 default_server;\n    server_name _;\n    root /srv/hosts/$host;\n}\n"
        "server {\n    listen 80;\n    server_name drop.example;\n    return 444;\n}\n"
    )
    os.symlink("/etc/nginx/sites-available/hosts", tmp_path / "sites-enabled" / "hosts")
    if settings:
        (tmp_path / "harness-site.toml").write_text(textwrap.dedent(settings))
    return tmp_path


@pytest.mark.docker
def test_a_404_taken_as_the_healthy_answer_is_said_until_the_settings_confirm_it(tmp_path: Path) -> None:
    with Session(site=load_site(_host_root_site(tmp_path / "unconfirmed"))) as session:
        said = session.preflight()
    note = next(line for line in said if "answers 404 before any fault" in line)
    assert 'confirm with [[probe]] path = "/"' in note and "status = 404" in note
    assert "probe GET drop.example/: the connection closed without an answer (return 444)" in said
    confirmed = _host_root_site(tmp_path / "confirmed", '[[probe]]\npath = "/"\nhost = ""\nstatus = 404\n')
    with Session(site=load_site(confirmed)) as session:
        assert not any("answers 404" in line for line in session.preflight())
