"""sites-enabled/default is a stale copy listening on 8080, not a link.

Someone "enabled" the site with cp instead of ln -s, long ago, from a version
that listened on 8080. Edits to sites-available no longer take effect, and
after the next restart nothing listens on port 80: the classic "nginx likes
port 80" breakage.
"""

from __future__ import annotations

import re

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class StaleSiteCopy(Scenario):
    name = "stale-site-copy"
    summary = "sites-enabled/default replaced by a regular-file copy that listens on 8080; nginx restarted"
    symptom = Symptom.REFUSED
    cause = "stale-site-copy"
    needs = ("site-link", "listen-80")

    def inject(self, target: Target) -> None:
        SITE, ENABLED = target.choice.site_file, f"/etc/nginx/sites-enabled/{target.choice.site_name}"
        stale = re.sub(r"listen (\[::\]:)?80\b", r"listen \g<1>8080", target.read_file(SITE))
        if stale == target.read_file(SITE):
            raise ValueError(f"{SITE} has no 'listen 80' to turn into 8080")
        target.exec(["rm", "-f", ENABLED], check=True)
        target.write_file(ENABLED, stale)
        target.nginx.restart(check=True)

    def repair(self, target: Target) -> None:
        SITE, ENABLED = target.choice.site_file, f"/etc/nginx/sites-enabled/{target.choice.site_name}"
        target.exec(["rm", "-f", ENABLED], check=True)
        target.exec(["ln", "-s", SITE, ENABLED], check=True)
        target.nginx.test_config(check=True)
        target.nginx.restart(check=True)
