"""The root a probe reads is pointed at a release directory that was never created: every page is 404.

The line is the root or alias that serves a probe's request, wherever it is written: a server's, a location's
(as in the official image's conf.d/default.conf), or an alias.
"""

from __future__ import annotations

from harness.route import Line
from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import reload, short, swap_lines

MISSING = "/srv/www/release-2"


class RootMissing(Scenario):
    name = "root-missing"
    summary = f"root switched to {MISSING}, which the deploy never created; nginx reloaded"
    symptom = Symptom.HTTP_4XX
    cause = "root-missing"
    needs = ("root-line",)

    def describe(self, target: Target) -> str:
        line = target.choice.root_line
        if line is None:
            return self.summary
        where, missing = f"{short(line.file)}:{line.line}", _missing(line.arg)
        return f"{where}: {line.arg} switched to {missing}, which the deploy never created; nginx reloaded"

    def inject(self, target: Target) -> None:
        line = _line(target)
        swap_lines(target, [(line, line.arg, _missing(line.arg))])
        reload(target)

    def repair(self, target: Target) -> None:
        line = _line(target)
        swap_lines(target, [(line, _missing(line.arg), line.arg)])
        reload(target)


def _line(target: Target) -> Line:
    line = target.choice.root_line
    if line is None:
        raise ValueError("no root or alias line names the folder a probe reads")
    return line


def _missing(written: str) -> str:
    """MISSING, written as the original was (an alias's trailing slash matters to nginx)."""
    return MISSING + "/" if written.endswith("/") else MISSING
