"""The app behind /app/ is stopped for maintenance and not started again: /app/ answers 502."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class AppStopped(Scenario):
    name = "app-stopped"
    summary = "service app stop during maintenance, never started again"
    symptom = Symptom.HTTP_5XX
    cause = "app-not-running"
    needs = ("test-server",)

    def inject(self, target: Target) -> None:
        target.exec(["service", "app", "stop"], check=True)

    def repair(self, target: Target) -> None:
        target.exec(["service", "app", "start"], check=True)
