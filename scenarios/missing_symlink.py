"""The outage that started harness: the sites-enabled link to the default site is gone.

A deploy removed /etc/nginx/sites-enabled/default and restarted nginx. nginx
starts happily with no site at all, its config test passes and its service
says "running", yet nothing listens on port 80.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class MissingSymlink(Scenario):
    name = "missing-symlink"
    summary = "sites-enabled/default link deleted, nginx restarted through its service"
    symptom = Symptom.REFUSED
    cause = "site-not-enabled"
    needs = ("site-link",)

    def describe(self, target: Target) -> str:
        name = target.choice.site_name
        return f"sites-enabled/{name} link deleted, nginx restarted through its service"

    def inject(self, target: Target) -> None:
        target.exec(["rm", "-f", f"/etc/nginx/sites-enabled/{target.choice.site_name}"], check=True)
        target.nginx.restart(check=True)

    def repair(self, target: Target) -> None:
        # The link back to the file it named, which need not share its name (000-default -> ../sites-available/app).
        choice = target.choice
        target.exec(["ln", "-sfn", choice.site_file, f"/etc/nginx/sites-enabled/{choice.site_name}"], check=True)
        target.nginx.test_config(check=True)
        target.nginx.restart(check=True)
