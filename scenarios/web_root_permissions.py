"""The document root becomes unreadable to nginx's workers: 403 for everyone.

A release was unpacked as root with umask 077. nginx's master runs as root and
starts fine; its workers run as www-data and may not enter /var/www/html.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class WebRootPermissions(Scenario):
    name = "web-root-permissions"
    summary = "the document root /var/www/html loses group and other permissions (umask 077 release)"
    symptom = Symptom.HTTP_4XX
    cause = "web-root-unreadable"
    needs = ("root",)

    def describe(self, target: Target) -> str:
        root = target.choice.root
        return f"the document root {root} loses group and other permissions (umask 077 release)"

    def inject(self, target: Target) -> None:
        target.exec(["chmod", "-R", "go-rwx", target.choice.root], check=True)

    def repair(self, target: Target) -> None:
        target.exec(["chmod", "-R", "u=rwX,go=rX", target.choice.root], check=True)
