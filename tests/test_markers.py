"""The pure subset: `pytest -m "not docker"` must pass with no Docker engine at all, in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHILD = "HARNESS_PURE_SUBSET_CHILD"


@pytest.mark.skipif(bool(os.environ.get(CHILD)), reason="this is the subset run itself")
def test_the_subset_without_docker_passes_with_no_engine() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "PYTEST_"))}
    # An engine that cannot exist: any test that needs one fails loudly instead of finding the real one.
    env.update(DOCKER_HOST="unix:///nonexistent.sock", **{CHILD: "1"})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "not docker", "-q", "-p", "no:cacheprovider", "-x", "-n", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = "\n".join(done.stdout.splitlines()[-15:])
    assert done.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail
