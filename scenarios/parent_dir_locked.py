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
    needs = ("root",)

    def describe(self, target: Target) -> str:
        parent = _parent(target)
        return f"chmod 0750 {parent} by a hardening script: the workers cannot reach the document root below it"

    def inject(self, target: Target) -> None:
        target.exec(["chmod", "0750", _parent(target)], check=True)

    def repair(self, target: Target) -> None:
        target.exec(["chmod", "0755", _parent(target)], check=True)


def _parent(target: Target) -> str:
    """The folder above the root a probe reads (the root itself when it sits right under /)."""
    parent = target.choice.root.rstrip("/").rsplit("/", 1)[0]
    return parent or target.choice.root
