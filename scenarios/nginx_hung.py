"""Every nginx process is stopped with SIGSTOP: connections queue and time out.

The listening socket stays open, so the kernel still completes handshakes and
clients wait for an answer that never comes. The symptom is a timeout, not a
refusal, and the service still says "running".
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class NginxHung(Scenario):
    name = "nginx-hung"
    summary = "every nginx process stopped with SIGSTOP (hung, not dead)"
    symptom = Symptom.TIMEOUT
    cause = "nginx-hung"

    def inject(self, target: Target) -> None:
        target.exec(["pkill", "-STOP", "-x", "nginx"], check=True)

    def repair(self, target: Target) -> None:
        target.exec(["pkill", "-CONT", "-x", "nginx"], check=True)
