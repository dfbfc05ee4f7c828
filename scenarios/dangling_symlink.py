"""The site file moved; its link in sites-enabled did not.

A config-management tidy-up renamed sites-available/default to default.conf.
sites-enabled/default still points at the old name, so `nginx -t` fails on
an include that does not exist and nginx cannot start after the next restart.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import short

AVAILABLE = "/etc/nginx/sites-available"


class DanglingSymlink(Scenario):
    name = "dangling-symlink"
    summary = "sites-available/default renamed to default.conf; the sites-enabled link dangles; nginx restarted"
    symptom = Symptom.REFUSED
    cause = "dangling-site-link"
    needs = ("site-link",)

    def describe(self, target: Target) -> str:
        site = short(target.choice.site_file)
        return f"{site} renamed to {site}.conf; the sites-enabled link dangles; nginx restarted"

    def inject(self, target: Target) -> None:
        site = target.choice.site_file
        target.exec(["mv", site, f"{site}.conf"], check=True)
        target.nginx.cold_restart()  # fails to start, which is the point

    def repair(self, target: Target) -> None:
        choice = target.choice
        link = f"/etc/nginx/sites-enabled/{choice.site_name}"
        target.exec(["ln", "-sfn", f"{choice.site_file}.conf", link], check=True)
        target.nginx.test_config(check=True)
        target.nginx.start(check=True)
