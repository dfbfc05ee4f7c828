"""sites-enabled/default is a stale copy listening on 8080, not a link.

Someone "enabled" the site with cp instead of ln -s, long ago, from a version
that listened on 8080. Edits to sites-available no longer take effect, and
after the next restart nothing listens on port 80: the classic "nginx likes
port 80" breakage. (8080 unless the site uses it: see listen-8080.)
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import short, swap, with_port
from scenarios.listen_8080 import unused_port


class StaleSiteCopy(Scenario):
    name = "stale-site-copy"
    summary = "sites-enabled/default replaced by a regular-file copy that listens on 8080; nginx restarted"
    symptom = Symptom.REFUSED
    cause = "stale-site-copy"
    needs = ("site-link", "listen-80")
    chosen_port = 0

    def describe(self, target: Target) -> str:
        name, port = target.choice.site_name, self._port(target)
        return f"sites-enabled/{name} replaced by a regular-file copy that listens on {port}; nginx restarted"

    def inject(self, target: Target) -> None:
        choice = target.choice
        site, enabled = choice.site_file, f"/etc/nginx/sites-enabled/{choice.site_name}"
        if not choice.listen_lines:
            raise ValueError(f"{short(site)} has no 'listen' line on port 80 to turn into another port")
        stale = target.read_file(site)
        port = self._port(target)
        for line in choice.listen_lines:
            stale = swap(stale, line, line.arg, with_port(line.arg, port))
        target.exec(["rm", "-f", enabled], check=True)
        target.write_file(enabled, stale)
        target.nginx.restart(check=True)

    def repair(self, target: Target) -> None:
        site, enabled = target.choice.site_file, f"/etc/nginx/sites-enabled/{target.choice.site_name}"
        target.exec(["rm", "-f", enabled], check=True)
        target.exec(["ln", "-s", site, enabled], check=True)
        target.nginx.test_config(check=True)
        target.nginx.restart(check=True)

    def _port(self, target: Target) -> int:
        """Chosen once, before the fault: the repair moves the lines back from the same port."""
        if not self.chosen_port:
            self.chosen_port = unused_port(target)
        return self.chosen_port
