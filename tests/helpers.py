"""Running the `harness` command as a user would, and looking for what it left."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import docker
from harness import ownership


def fresh_run_id(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def harness_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(extra)
    return env


def run_harness(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=harness_env(**env),
        stdin=subprocess.DEVNULL,
    )


def containers_of_run(run_id: str) -> list[str]:
    client = docker.from_env()
    try:
        found = client.containers.list(
            all=True, filters={"label": [f"{ownership.MANAGED}=true", f"{ownership.RUN}={run_id}"]}
        )
        return [c.name for c in found]
    finally:
        client.close()
