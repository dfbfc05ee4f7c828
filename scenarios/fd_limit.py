"""nginx runs with an open-files limit of 15: one GET works, a crowd does not.

`ULIMIT="-n 15"` in /etc/default/nginx is applied by the service script at
start. Each worker allows 768 connections but can open only a handful of
files, so under concurrent load accept() and open() fail with EMFILE and
clients see 500s. A single probe never notices; a load burst does.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target

DEFAULTS = "/etc/default/nginx"


class FdLimit(Scenario):
    name = "fd-limit"
    summary = 'ULIMIT="-n 15" added to /etc/default/nginx; nginx restarted through its service'
    symptom = Symptom.FAILS_UNDER_LOAD
    cause = "fd-limit-too-low"
    needs = ("unlimited-page",)  # a burst a site's own rate limit turns away cannot show the open-files limit

    def inject(self, target: Target) -> None:
        current = target.read_file(DEFAULTS)
        target.write_file(DEFAULTS, current.rstrip("\n") + '\nULIMIT="-n 15"\n')
        target.nginx.restart(check=True)

    def repair(self, target: Target) -> None:
        target.exec(["sed", "-i", "/^ULIMIT=/d", DEFAULTS], check=True)
        target.nginx.restart(check=True)
