"""worker_connections cut to 16 to "save memory": single requests pass, any real traffic is refused."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import NGINX_CONF, edit, reload


class WorkerConnections(Scenario):
    name = "worker-connections"
    summary = "worker_connections lowered to 16 in nginx.conf, nginx reloaded: it fails under concurrent load"
    symptom = Symptom.FAILS_UNDER_LOAD
    cause = "worker-connections-too-low"

    def inject(self, target: Target) -> None:
        edit(target, NGINX_CONF, r"worker_connections\s+\d+;", "worker_connections 16;")
        reload(target)

    def repair(self, target: Target) -> None:
        edit(target, NGINX_CONF, r"worker_connections\s+16;", "worker_connections 768;")
        reload(target)
