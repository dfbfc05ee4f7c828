"""nginx was stopped through its service (maintenance that never finished) and not started again."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class NginxStopped(Scenario):
    name = "nginx-stopped"
    summary = "service nginx stop, and nobody starts it again"
    symptom = Symptom.REFUSED
    cause = "nginx-not-running"

    def inject(self, target: Target) -> None:
        target.nginx.stop(check=True)

    def repair(self, target: Target) -> None:
        target.nginx.start(check=True)
