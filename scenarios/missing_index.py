"""The index page is deleted: nginx answers 403 (directory index forbidden)."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class MissingIndex(Scenario):
    name = "missing-index"
    summary = "a cleanup job deletes /var/www/html/index.html"
    symptom = Symptom.HTTP_4XX
    cause = "index-missing"
    needs = ("test-server",)

    def inject(self, target: Target) -> None:
        target.exec(["rm", "-f", "/var/www/html/index.html"], check=True)

    def repair(self, target: Target) -> None:
        target.exec(["install", "-m", "0644", "/opt/site/release/index.html", "/var/www/html/index.html"], check=True)
