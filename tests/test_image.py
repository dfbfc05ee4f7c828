"""The target image: cache key, and what a failed build tells the user."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.cli import HARNESS_ERROR
from harness.image import context_digest, package_list
from harness.paths import default_docker_dir
from tests.helpers import run_harness


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "docker"
    shutil.copytree(default_docker_dir(), folder)
    return folder


def test_any_change_under_docker_makes_a_new_image(build_dir: Path) -> None:
    before = context_digest(build_dir, "ubuntu:24.04")
    assert context_digest(build_dir, "ubuntu:24.04") == before
    assert context_digest(build_dir, "ubuntu:22.04") != before
    page = build_dir / "site" / "index.html"
    page.write_text(page.read_text() + "\n")
    after_edit = context_digest(build_dir, "ubuntu:24.04")
    assert after_edit != before
    os.chmod(page, 0o755)
    assert context_digest(build_dir, "ubuntu:24.04") != after_edit


def test_package_list_has_what_the_issue_asks_for() -> None:
    packages = set(package_list(default_docker_dir()))
    assert {"nginx", "sudo", "procps", "iproute2", "curl", "iptables", "tini"} <= packages


@pytest.mark.docker
def test_build_failure_names_the_step_and_shows_the_log_tail(build_dir: Path) -> None:
    dockerfile = build_dir / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace(
            "COPY site/index.html", "RUN echo 'deliberately failing step' && exit 7\nCOPY site/index.html", 1
        )
    )
    done = run_harness("image", HARNESS_DOCKER_DIR=str(build_dir))
    assert done.returncode == HARNESS_ERROR
    lines = done.stderr.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("harness:")]
    assert len(errors) == 1, done.stderr
    first, rest = lines[errors[0]], lines[errors[0] + 1 :]
    assert first.startswith("harness: image build failed at Step "), first
    assert "RUN echo 'deliberately failing step' && exit 7" in first
    assert "returned a non-zero code: 7" in first
    assert any("deliberately failing step" in line for line in rest), "the log tail should be shown"


def test_the_target_page_carries_the_marker_the_probe_looks_for() -> None:
    from harness.probe import PAGE_MARKER

    assert PAGE_MARKER in (default_docker_dir() / "site" / "index.html").read_text()
