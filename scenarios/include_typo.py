"""nginx.conf's include of sites-enabled gets a typo (site-enabled) during a tidy-up: no site is loaded."""

from __future__ import annotations

from harness.route import Line
from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import reload, short, swap_lines


class IncludeTypo(Scenario):
    name = "include-typo"
    summary = "nginx.conf includes /etc/nginx/site-enabled/* (a typo for sites-enabled), nginx reloaded"
    symptom = Symptom.REFUSED
    cause = "include-matches-nothing"
    needs = ("site-link", "sites-include")

    def describe(self, target: Target) -> str:
        line = target.choice.sites_include
        if line is None:
            return self.summary
        return f"{short(line.file)}:{line.line} includes {_typo(line.arg)} (a typo for sites-enabled), nginx reloaded"

    def inject(self, target: Target) -> None:
        line = _include(target)
        swap_lines(target, [(line, line.arg, _typo(line.arg))])
        reload(target)

    def repair(self, target: Target) -> None:
        line = _include(target)
        swap_lines(target, [(line, _typo(line.arg), line.arg)])
        reload(target)


def _include(target: Target) -> Line:
    line = target.choice.sites_include
    if line is None:
        raise ValueError("nginx.conf has no include of sites-enabled")
    return line


def _typo(pattern: str) -> str:
    return pattern.replace("sites-enabled", "site-enabled", 1)
