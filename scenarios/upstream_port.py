"""An upstream's proxy line gets the wrong port after a copy-paste from another server: 502."""

from __future__ import annotations

import re

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import edit, reload


class UpstreamPort(Scenario):
    name = "upstream-port"
    summary = "the proxy line of an upstream a probe uses moved to the next port, where nothing listens; reloaded"
    symptom = Symptom.HTTP_5XX
    cause = "upstream-unreachable"
    needs = ("upstream",)

    def inject(self, target: Target) -> None:
        _move(target, 0, 1)  # 9000 becomes 19000
        reload(target)

    def repair(self, target: Target) -> None:
        _move(target, 1, 0)
        reload(target)


def _move(target: Target, frm: int, to: int) -> None:
    choice = target.choice
    host, port = choice.upstream_host, choice.upstream_port
    # Far from the port, not next to it: a neighbour is often another upstream of the same site.
    away = 10000 if port < 50000 else -10000
    edit(target, choice.upstream_file, rf"\b{re.escape(host)}:{port + frm * away}\b", f"{host}:{port + to * away}", 1)
