"""A drill against another engine named by DOCKER_HOST (a second dockerd on a loopback TCP port)."""

from __future__ import annotations

import subprocess
import time

from harness.session import Session
from tests.engines import second_engine
from tests.helpers import containers_of_run, fresh_run_id, run_harness, single_drill


def _harness_containers(host: str | None) -> list[str]:
    argv = ["docker", *(["-H", host] if host else []), "ps", "-aq", "--filter", "label=harness.managed=true"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()


def _created_on(host: str, since: int) -> list[str]:
    argv = ["docker", "-H", host, "events", "--since", str(since), "--until", str(int(time.time()) + 1)]
    argv += ["--filter", "event=create", "--format", "{{.Actor.Attributes.name}}"]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout.split()


def test_drill_on_a_remote_engine_recovers_and_leaves_nothing_on_either(harness_session: Session) -> None:
    with second_engine(harness_session.image.tag) as host:
        run_id = fresh_run_id("remote")
        since = int(time.time()) - 1
        proc = run_harness("drill", "missing-symlink", "--json", DOCKER_HOST=host, HARNESS_RUN_ID=run_id)
        assert proc.returncode == 0, proc.stderr
        result = single_drill(proc.stdout)
        assert result["verdict"] == "recovered" and result["passed"]
        assert result["observed"]["diagnosis"]["cause"] == "site-not-enabled"
        # The target was created on the second engine, and nothing of it is left there.
        assert result["target"]["container"] in _created_on(host, since)
        assert _harness_containers(host) == []
    assert containers_of_run(run_id) == []  # and nothing of this run on the main engine
