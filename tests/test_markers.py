"""The pure subset: `pytest -m "not docker"` passes with no Docker engine, because each pure test runs without one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness import engine
from tests.conftest import NO_ENGINE


def test_a_pure_test_has_no_engine_in_process_or_in_a_subprocess() -> None:
    """What the conftest guard promises; before it, the pure subset was proved by re-running it whole (46 s)."""
    # In process, by address only: the Docker SDK leaks the socket of a failed connect, which warnings turn into errors.
    assert engine.engine_address() == NO_ENGINE
    done = subprocess.run([sys.executable, "-m", "harness", "sweep"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "nonexistent" in done.stderr, done.stderr


@pytest.mark.docker
def test_a_docker_test_keeps_the_engine_it_was_given() -> None:
    assert os.environ.get("DOCKER_HOST") != NO_ENGINE


def test_the_slow_marker_is_registered(pytestconfig: pytest.Config) -> None:
    assert any(line.startswith("slow:") for line in pytestconfig.getini("markers"))
