"""The site's root is pointed at a release directory that was never created: every page is 404."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import SITE, edit, reload


class RootMissing(Scenario):
    name = "root-missing"
    summary = "root switched to /srv/www/release-2, which the deploy never created; nginx reloaded"
    symptom = Symptom.HTTP_4XX
    cause = "root-missing"

    def inject(self, target: Target) -> None:
        edit(target, SITE, r"root /var/www/html;", "root /srv/www/release-2;", count=1)
        reload(target)

    def repair(self, target: Target) -> None:
        edit(target, SITE, r"root /srv/www/release-2;", "root /var/www/html;", count=1)
        reload(target)
