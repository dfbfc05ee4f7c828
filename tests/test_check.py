"""`harness check` on containers harness did not start: read-only verdicts; injection refused."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

import docker
from harness.check import check_server
from harness.cli import HARNESS_ERROR
from harness.probe import Outcome
from harness.session import Session
from harness.target import Target
from tests.helpers import run_harness, validated


def _serving(port: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered on 127.0.0.1:{port} within {timeout:g} s")


def _changes(container: docker.models.containers.Container) -> set[tuple[str, int]]:
    """What `docker diff` says was added, changed or removed since the image (it lists them in no fixed order)."""
    return {(change["Path"], change["Kind"]) for change in container.diff()}


@pytest.fixture
def foreign(harness_session: Session) -> Iterator[docker.models.containers.Container]:
    """An nginx server someone else started: our image, but no harness labels."""
    client = docker.from_env()
    container = client.containers.run(
        harness_session.image.tag, detach=True, ports={"80/tcp": ("127.0.0.1", None)}, name=f"someone-{time.time_ns()}"
    )
    try:
        container.reload()
        _serving(container.ports["80/tcp"][0]["HostPort"])
        yield container
    finally:
        container.remove(force=True)
        client.close()


def test_check_a_healthy_foreign_container(foreign: docker.models.containers.Container) -> None:
    proc = run_harness("check", foreign.name, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = validated(proc.stdout, "check")
    assert report["passed"] is True
    assert report["probe"]["ok"] is True and len(report["probe"]["samples"]) == 5
    assert report["diagnosis"]["cause"] == "healthy"


def test_check_names_the_fault_and_changes_nothing(foreign: docker.models.containers.Container) -> None:
    foreign.exec_run(["rm", "/etc/nginx/sites-enabled/default"])
    foreign.exec_run(["service", "nginx", "restart"])
    before = _changes(foreign)
    proc = run_harness("check", foreign.name)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "site-not-enabled" in proc.stdout and "FAULT" in proc.stdout
    assert _changes(foreign) == before  # read-only: not a file added, changed or removed
    assert foreign.exec_run(["test", "-e", "/etc/nginx/sites-enabled/default"]).exit_code != 0


def test_check_a_container_with_no_nginx_at_all(harness_session: Session) -> None:
    client = docker.from_env()
    container = client.containers.run(
        harness_session.image.tag,
        entrypoint=["python3", "-m", "http.server", "80", "--directory", "/var/www/html"],
        detach=True,
        ports={"80/tcp": ("127.0.0.1", None)},
    )
    try:
        container.reload()
        _serving(container.ports["80/tcp"][0]["HostPort"])
        proc = run_harness("check", container.name, "--json")
    finally:
        container.remove(force=True)
        client.close()
    assert proc.returncode == 1, proc.stderr
    report = validated(proc.stdout, "check")
    assert report["passed"] is False
    assert "not from nginx" in report["probe"]["samples"][0]["detail"]
    assert report["diagnosis"]["cause"] == "port-squatted"


@pytest.mark.docker
def test_check_unknown_container_is_bad_input() -> None:
    proc = run_harness("check", "no-such-container-anywhere")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "harness: no container named 'no-such-container-anywhere'; `docker ps` lists the running ones"
    ]


def test_only_a_container_harness_labelled_counts_as_its_own(
    foreign: docker.models.containers.Container, harness_target: Target
) -> None:
    from harness.check import find_container

    # The labels come from the engine, not from what the caller claims.
    client = docker.from_env()
    try:
        assert find_container(client, str(foreign.name)).ours is False
        assert find_container(client, harness_target.name).ours is True
    finally:
        client.close()


# -- check --expect -------------------------------------------------------------------------------------


@pytest.mark.docker
def test_expect_names_the_missing_text_and_refuses_to_pass_unchecked(harness_target: Target) -> None:
    from harness.check import ExistingServer

    server = ExistingServer(harness_target._wrapped)
    report = check_server(server, expect="text-that-is-not-there")
    assert report.samples and all(s.outcome is Outcome.MISSING_TEXT for s in report.samples)
    assert "lacks 'text-that-is-not-there'" in report.samples[0].detail
    assert not report.healthy


@pytest.mark.docker
def test_expect_without_a_published_port_is_not_a_pass(harness_session: Session) -> None:
    container = harness_session.client.containers.run(
        harness_session.image.tag, detach=True, labels={"harness.run": harness_session.run_id}
    )
    try:
        done = run_harness("check", str(container.name), "--expect", "hello", "--json")
    finally:
        container.remove(force=True)
    assert done.returncode == HARNESS_ERROR, done.stderr
    report = validated(done.stdout, "check")
    assert report["passed"] is False and "could not be checked" in report["unchecked"]
