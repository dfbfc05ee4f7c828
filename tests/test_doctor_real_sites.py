"""The doctor on servers configured as teams configure them: real nginx in a container someone else started."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import docker
from harness.check import ExistingServer
from harness.cli import PASSED, VERDICT_FAILED
from harness.doctor import HEALTHY, Request, examine
from harness.session import Session
from tests.helpers import run_harness, single_drill, validated

Serve = Callable[[str, str], docker.models.containers.Container]

SITE = "/etc/nginx/sites-available/default"


@pytest.fixture
def serve(harness_session: Session) -> Iterator[Serve]:
    """Start our image as someone's server with SITE as its site and SETUP run first (shell), then reload."""
    client = docker.from_env()
    started: list[docker.models.containers.Container] = []

    def start(site: str, setup: str = "") -> docker.models.containers.Container:
        container = client.containers.run(
            harness_session.image.tag,
            detach=True,
            ports={"80/tcp": ("127.0.0.1", None)},
            name=f"team-{time.time_ns()}",
        )
        started.append(container)
        script = (
            f"until [ -s /run/nginx.pid ]; do sleep 0.05; done; {setup}\nprintf '%s' \"$1\" > {SITE} && nginx -s reload"
        )
        done = container.exec_run(["sh", "-c", script, "sh", site])
        assert done.exit_code == 0, done.output.decode()
        time.sleep(0.5)
        container.reload()
        return container

    try:
        yield start
    finally:
        for container in started:
            container.remove(force=True)
        client.close()


@pytest.mark.docker
def test_a_port_another_process_holds_is_named_with_its_process_pid_and_command(serve: Serve) -> None:
    holder = (
        "setsid python3 -m http.server 8081 >/dev/null 2>&1 & "
        "until ss -ltnH 'sport = :8081' | grep -q .; do sleep 0.1; done"
    )
    site = "server {\n listen 80 default_server;\n listen 8081;\n root /var/www/html;\n}\n"
    diagnosis = examine(ExistingServer(serve(site, holder)))
    assert diagnosis.cause == "port-squatted", diagnosis.summary
    assert "python3 (pid " in diagnosis.summary and "http.server 8081" in diagnosis.summary
    assert "Address already in use" in diagnosis.summary and f"{SITE}:3" in diagnosis.summary


@pytest.mark.docker
def test_check_on_a_locked_alias_folder_is_a_fault_never_healthy(serve: Serve) -> None:
    locked = "mkdir -p /srv/static && echo body > /srv/static/app.css && chmod 700 /srv/static"
    site = "server {\n listen 80 default_server;\n root /var/www/html;\n location /static/ { alias /srv/static/; }\n}\n"
    container = serve(site, locked)
    done = run_harness("check", str(container.name), "--json")
    report = validated(done.stdout, "check")
    assert done.returncode == VERDICT_FAILED, report["diagnosis"]["summary"]
    assert report["diagnosis"]["cause"] == "web-root-unreadable"
    assert "/srv/static cannot be entered by www-data" in report["diagnosis"]["summary"]


@pytest.mark.docker
def test_try_files_to_a_named_app_location_is_an_upstream_fault_not_a_missing_index(serve: Serve) -> None:
    site = (
        "server {\n listen 80 default_server;\n root /var/www/html;\n"
        " location / { try_files /dev/null @api; }\n location @api { proxy_pass http://127.0.0.1:3999; }\n}\n"
    )
    diagnosis = examine(ExistingServer(serve(site)), ("the probe: HTTP 502",), (Request("/"),))
    assert diagnosis.cause == "upstream-unreachable", diagnosis.summary
    assert "127.0.0.1:3999" in diagnosis.summary and f"{SITE}:5" in diagnosis.summary


CERT = (
    "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=shop.example "
    "-keyout /etc/ssl/private/shop.key -out /etc/ssl/certs/shop.pem 2>/dev/null"
)


@pytest.mark.docker
def test_the_inside_checks_speak_tls_to_an_ssl_listener(serve: Serve) -> None:
    site = (
        "server {\n listen 80 default_server;\n root /var/www/html;\n}\n"
        "server {\n listen 443 ssl;\n server_name shop.example;\n ssl_certificate /etc/ssl/certs/shop.pem;\n"
        " ssl_certificate_key /etc/ssl/private/shop.key;\n root /var/www/html;\n}\n"
    )
    diagnosis = examine(ExistingServer(serve(site, CERT)))
    fetched = {f.url: f.code for f in diagnosis.facts.inside.fetches}
    assert fetched.get("https://127.0.0.1:443/") == "200", fetched
    assert not any(url.startswith("http://127.0.0.1:443") for url in fetched)
    assert diagnosis.cause == HEALTHY, diagnosis.summary


@pytest.mark.docker
def test_a_dead_upstream_on_a_path_no_probe_uses_is_evidence(serve: Serve) -> None:
    site = (
        "server {\n listen 80 default_server;\n root /var/www/html;\n"
        " location ~ ^/admin/ { proxy_pass http://127.0.0.1:3998; }\n"
        " location /api/ { proxy_pass http://127.0.0.1:9000/; }\n}\n"
    )
    diagnosis = examine(ExistingServer(serve(site)))
    assert diagnosis.cause == "upstream-unreachable", diagnosis.summary
    assert "127.0.0.1:3998" in diagnosis.summary and f"{SITE}:4" in diagnosis.summary


VHOSTS = (
    "server {\n listen 80 default_server;\n server_name _;\n return 444;\n}\n"
    "server {\n listen 80;\n server_name shop.example;\n root /var/www/html;\n}\n"
    "server {\n listen 80;\n server_name blog.example;\n root /var/www/html;\n}\n"
)


@pytest.mark.docker
def test_check_probes_each_server_name_and_calls_the_444_catch_all_by_design(serve: Serve, tmp_path: Path) -> None:
    container = serve(VHOSTS)
    done = run_harness("check", str(container.name), "--json")
    report = validated(done.stdout, "check")
    assert done.returncode == PASSED, (report["probe"], report["diagnosis"]["summary"])
    details = " ".join(s["detail"] for s in report["probe"]["samples"])
    assert "shop.example" in details and "blog.example" in details
    assert any("closes the connection" in line and f"{SITE}:4" in line for line in report["probe"]["by_design"])
    # Named hosts: only those are probed; a name the site does not serve lands on the catch-all, a fault.
    named = validated(run_harness("check", str(container.name), "--host", "shop.example", "--json").stdout, "check")
    assert named["passed"] and all("shop.example" in s["detail"] for s in named["probe"]["samples"])
    wrong = run_harness("check", str(container.name), "--host", "nosuch.example", "--json")
    assert wrong.returncode == VERDICT_FAILED
    # A tree: its probes, as a drill derives them.
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "sites-enabled" / "default").write_text(VHOSTS)
    from_tree = run_harness("check", str(container.name), "--site", str(tmp_path), "--json")
    assert from_tree.returncode == PASSED, from_tree.stdout[-1500:]


@pytest.mark.docker
def test_a_sites_upstream_at_the_test_apps_address_is_not_the_test_app(tmp_path: Path) -> None:
    """127.0.0.1:9000 is where harness's own app listens on its test server; on a team's tree it is the team's."""
    (tmp_path / "sites-available").mkdir()
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "sites-available" / "shop").write_text(
        "server {\n    listen 80 default_server;\n    server_name shop.example;\n"
        "    location / {\n        proxy_pass http://127.0.0.1:9000;\n    }\n}\n"
    )
    (tmp_path / "sites-enabled" / "shop").symlink_to("../sites-available/shop")
    done = run_harness("drill", "nginx-stopped", "--site", str(tmp_path), "--json", timeout=400)
    result = single_drill(done.stdout)
    assert result["verdict"] == "recovered", (result["verdict"], result["problems"])
    assert "app-not-running" not in done.stdout
