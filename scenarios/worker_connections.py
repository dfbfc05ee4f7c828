"""worker_connections cut to 16 to "save memory": single requests pass, any real traffic is refused."""

from __future__ import annotations

import re

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import edit, reload, short


class WorkerConnections(Scenario):
    name = "worker-connections"
    summary = "worker_connections lowered to 16 in nginx.conf, nginx reloaded: it fails under concurrent load"
    symptom = Symptom.FAILS_UNDER_LOAD
    cause = "worker-connections-too-low"
    needs = ("worker-connections", "unlimited-page")

    def describe(self, target: Target) -> str:
        where = short(target.choice.worker_connections_file)
        return f"worker_connections lowered to 16 in {where}, nginx reloaded: it fails under concurrent load"

    def inject(self, target: Target) -> None:
        self.before = re.search(r"worker_connections\s+(\d+);", target.read_file(target.choice.worker_connections_file))
        edit(target, target.choice.worker_connections_file, r"worker_connections\s+\d+;", "worker_connections 16;")
        reload(target)

    def repair(self, target: Target) -> None:
        value = self.before.group(1) if self.before else "768"
        edit(target, target.choice.worker_connections_file, r"worker_connections\s+16;", f"worker_connections {value};")
        reload(target)
