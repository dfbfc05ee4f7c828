"""/var/www loses its execute bit for others (a hardening script gone too far): 403 for every page."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class ParentDirLocked(Scenario):
    name = "parent-dir-locked"
    summary = "chmod 0750 /var/www by a hardening script: the workers cannot reach the document root below it"
    symptom = Symptom.HTTP_4XX
    cause = "web-root-unreadable"

    def inject(self, target: Target) -> None:
        target.exec(["chmod", "0750", "/var/www"], check=True)

    def repair(self, target: Target) -> None:
        target.exec(["chmod", "0755", "/var/www"], check=True)
