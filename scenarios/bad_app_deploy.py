"""Release v2 of the app behind /app/ crashes at startup: nginx answers 502.

The site itself still serves; the application nginx proxies to does not.
v2 reads a DATABASE_URL the deploy never set and dies before binding its
port. The original postmortem's resolution: roll back to the previous release.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target

WAIT_FOR_APP = "until curl -sf -o /dev/null -m 1 http://127.0.0.1:9000/; do sleep 0.05; done"
WAIT_FOR_CRASH = "while service app status >/dev/null 2>&1; do sleep 0.05; done"


class BadAppDeploy(Scenario):
    name = "bad-app-deploy"
    summary = "deploy-app v2: the new release crashes on boot, /app/ answers 502"
    symptom = Symptom.HTTP_5XX
    cause = "app-release-crashing"
    needs = ("test-server",)

    def inject(self, target: Target) -> None:
        target.exec(["deploy-app", "v2"], check=True)
        # The fault is in once the release has died: a doctor looking sooner sees an app still booting, and
        # rightly calls it an upstream where nothing listens yet.
        target.exec(["sh", "-c", WAIT_FOR_CRASH], timeout=10, check=True)

    def repair(self, target: Target) -> None:
        target.exec(["deploy-app", "v1"], check=True)
        target.exec(["sh", "-c", WAIT_FOR_APP], timeout=10, check=True)
