"""The original outage with the decoys that cost responders their time.

The real fault is the missing sites-enabled link, as in missing-symlink. But
the app was redeployed minutes earlier and its log is full of database
connection errors: the first things people read, and both irrelevant.
"""

from __future__ import annotations

from datetime import UTC, datetime

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios.bad_app_deploy import WAIT_FOR_APP
from scenarios.missing_symlink import MissingSymlink

APP_LOG = "/var/log/app/app.log"
DECOY = (
    '{t} ERROR db: psycopg2.OperationalError: connection to server at "db.internal" port 5432 failed: '
    "Connection refused\n"
    "{t} ERROR db: pool exhausted, retrying in 5 s (attempt {n}/5)\n"
)


class MisleadingPath(Scenario):
    name = "misleading-path"
    summary = "sites-enabled/default deleted, after an app redeploy, with database errors filling the app log"
    symptom = Symptom.REFUSED
    cause = "site-not-enabled"
    needs = ("test-server",)

    def inject(self, target: Target) -> None:
        target.exec(["deploy-app", "v1"], check=True)  # a "recent code change" that changed nothing
        # The redeployed app must be serving again before the fault goes in: on a loaded machine it takes seconds
        # to boot, and a doctor (or a fix's verdict) looking in that window rightly sees an upstream not answering.
        target.exec(["sh", "-c", WAIT_FOR_APP], timeout=10, check=True)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        decoys = "".join(DECOY.format(t=now, n=n) for n in range(1, 6))
        target.write_file(APP_LOG, target.read_file(APP_LOG) + decoys)
        MissingSymlink().inject(target)

    def repair(self, target: Target) -> None:
        MissingSymlink().repair(target)
