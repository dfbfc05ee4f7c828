"""The site is moved to port 8080 "for testing", and reloaded: nothing serves port 80 any more.

8080 unless the site already uses it: the port is one nothing on the site listens on, proxies to or runs an
upstream on, and nothing in the server holds.
"""

from __future__ import annotations

from harness.choice import bound_ports, free_port
from harness.route import Line
from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import reload, short, swap_lines, with_port


class Listen8080(Scenario):
    name = "listen-8080"
    summary = "sites-available/default edited to listen on 8080 instead of 80, nginx reloaded"
    symptom = Symptom.REFUSED
    cause = "site-listens-elsewhere"
    needs = ("site-link", "listen-80")
    chosen_port = 0

    def describe(self, target: Target) -> str:
        return (
            f"{short(target.choice.site_file)} edited to listen on {self._port(target)} instead of 80, nginx reloaded"
        )

    def inject(self, target: Target) -> None:
        port = self._port(target)
        swap_lines(target, [(line, line.arg, with_port(line.arg, port)) for line in _lines(target)])
        reload(target)

    def repair(self, target: Target) -> None:
        port = self._port(target)
        swap_lines(target, [(line, with_port(line.arg, port), line.arg) for line in _lines(target)])
        reload(target)

    def _port(self, target: Target) -> int:
        """Chosen once, before the fault: the repair moves the lines back from the same port."""
        if not self.chosen_port:
            self.chosen_port = unused_port(target)
        return self.chosen_port


def _lines(target: Target) -> tuple[Line, ...]:
    lines = target.choice.listen_lines
    if not lines:
        raise ValueError(f"{target.choice.site_file} has no 'listen' line on port 80 to move")
    return lines


def unused_port(target: Target) -> int:
    """The first port from 8080 that the site does not use and nothing in the server holds now."""
    choice = target.choice
    return free_port(set(choice.used_ports) | bound_ports(target), choice.free_port or 8080)
