"""A tuning snippet dropped into conf.d/ has a typo, and nginx is restarted: nothing listens on port 80.

Not a site and not deployed by the deploy tool, so there is no backup of it:
the fix is to move the stray file aside (or correct it), which is what a
responder does once `nginx -t` names it.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target

SNIPPET = "/etc/nginx/conf.d/gzip-tuning.conf"


class ConfDSyntaxError(Scenario):
    name = "conf-d-syntax-error"
    summary = "conf.d/gzip-tuning.conf with a missing semicolon, then nginx restarted"
    symptom = Symptom.REFUSED
    cause = "config-invalid"
    needs = ("conf-d",)

    def inject(self, target: Target) -> None:
        target.write_file(SNIPPET, "gzip_comp_level 5\ngzip_min_length 256;\n")
        # Stop, then start, as a deploy that "restarts" does: Debian's restart would refuse to stop first.
        target.nginx.stop(check=True)
        target.nginx.start()  # fails: the configuration test does not pass

    def repair(self, target: Target) -> None:
        target.exec(["rm", "-f", SNIPPET], check=True)
        target.nginx.start(check=True)
