"""The site's root is pointed at a release directory that was never created: every page is 404."""

from __future__ import annotations

import re

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import edit, reload

MISSING = "/srv/www/release-2"


class RootMissing(Scenario):
    name = "root-missing"
    summary = f"root switched to {MISSING}, which the deploy never created; nginx reloaded"
    symptom = Symptom.HTTP_4XX
    cause = "root-missing"
    needs = ("root",)

    def inject(self, target: Target) -> None:
        root = re.escape(target.choice.root)
        edit(target, _file_with_root(target), rf"root\s+{root}/?;", f"root {MISSING};", count=1)
        reload(target)

    def repair(self, target: Target) -> None:
        edit(target, _file_with_root(target), rf"root {MISSING};", f"root {target.choice.root};", count=1)
        reload(target)


def _file_with_root(target: Target) -> str:
    """The file whose root directive names the chosen root: the enabled site's, or any the model names."""
    site = target.site
    if site is None:
        return target.choice.site_file
    for server in site.model.servers:
        found = server.get("root")
        if found is not None and found.args and found.args[0].rstrip("/") == target.choice.root:
            return found.where.file
    return target.choice.site_file
