"""/app/ is proxied to port 9001 after a copy-paste from another server; the app listens on 9000: 502."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import SITE, edit, reload


class UpstreamPort(Scenario):
    name = "upstream-port"
    summary = "proxy_pass for /app/ changed to 127.0.0.1:9001, where nothing listens; nginx reloaded"
    symptom = Symptom.HTTP_5XX
    cause = "upstream-unreachable"

    def inject(self, target: Target) -> None:
        edit(target, SITE, r"proxy_pass http://127\.0\.0\.1:9000/", "proxy_pass http://127.0.0.1:9001/")
        reload(target)

    def repair(self, target: Target) -> None:
        edit(target, SITE, r"proxy_pass http://127\.0\.0\.1:9001/", "proxy_pass http://127.0.0.1:9000/")
        reload(target)
