"""Another program holds port 80, so nginx cannot bind when it starts.

While nginx was down for maintenance, someone ran a debug server on port 80
(python3 -m http.server). nginx's start then fails with "Address already in
use", and clients get a directory listing instead of the site.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target

# setsid and the redirections detach the squatter from this exec, so the exec returns.
SQUAT = "setsid -f python3 -m http.server 80 --directory /srv >/var/log/squatter.log 2>&1 </dev/null"
WAIT_FOR_SQUATTER = "until ss -ltnpH 'sport = :80' | grep -q python3; do sleep 0.05; done"


class PortSquatted(Scenario):
    name = "port-squatted"
    summary = "nginx stopped; a debug HTTP server takes port 80; nginx's start fails"
    symptom = Symptom.NOT_OUR_SERVER
    cause = "port-squatted"
    needs = ("port-80",)

    def inject(self, target: Target) -> None:
        target.nginx.stop(check=True)
        target.exec(["sh", "-c", SQUAT], check=True)
        target.exec(["sh", "-c", WAIT_FOR_SQUATTER], timeout=10, check=True)
        target.nginx.start()  # fails: address already in use

    def repair(self, target: Target) -> None:
        target.exec(["fuser", "-k", "-TERM", "80/tcp"], check=True)
        target.exec(["sh", "-c", "while ss -ltnH 'sport = :80' | grep -q .; do sleep 0.05; done"], timeout=10)
        target.nginx.start(check=True)
