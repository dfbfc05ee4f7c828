"""Every nginx process is killed with SIGKILL (the OOM killer, or kill -9): the pid file stays behind.

Nothing shut nginx down, so /run/nginx.pid still names the dead master. The
service says "not running"; the stale pid file says it crashed, not that
someone stopped it.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class NginxKilled(Scenario):
    name = "nginx-killed"
    summary = "every nginx process killed with SIGKILL; /run/nginx.pid left stale"
    symptom = Symptom.REFUSED
    cause = "nginx-crashed"

    def inject(self, target: Target) -> None:
        target.exec(["pkill", "-KILL", "-x", "nginx"], check=True)

    def repair(self, target: Target) -> None:
        target.nginx.start(check=True)
