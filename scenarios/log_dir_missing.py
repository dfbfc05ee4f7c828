"""/var/log/nginx is gone (a log cleanup took the directory too): nginx cannot start.

nginx opens its error log before anything else; without the directory the
config test fails and the restart leaves port 80 dark.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class LogDirMissing(Scenario):
    name = "log-dir-missing"
    summary = "a log cleanup removes /var/log/nginx itself; nginx restarted"
    symptom = Symptom.REFUSED
    cause = "log-dir-missing"
    needs = ("log-dir",)  # a site logging elsewhere starts without it: nothing a probe sees would break

    def inject(self, target: Target) -> None:
        target.exec(["rm", "-rf", "/var/log/nginx"], check=True)
        target.nginx.cold_restart()  # fails to start, which is the point

    def repair(self, target: Target) -> None:
        target.exec(["mkdir", "-p", "/var/log/nginx"], check=True)
        target.exec(["chown", "root:adm", "/var/log/nginx"], check=True)
        target.nginx.start(check=True)
