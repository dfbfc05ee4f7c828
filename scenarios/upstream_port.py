"""An upstream a probe uses gets the wrong address after a copy-paste from another server: 502.

The upstream is the one a probe's request is proxied to (traced through the configuration: its location,
try_files fallbacks, an `upstream` block's every server), never merely the first address in a file. A TCP
upstream moves to a port where nothing listens; a unix socket to a path nothing serves.
"""

from __future__ import annotations

from harness.choice import bound_ports, free_port
from harness.route import Line
from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import moved_socket, reload, short, swap_lines, with_port


class UpstreamPort(Scenario):
    name = "upstream-port"
    summary = "the proxy line of an upstream a probe uses moved to the next port, where nothing listens; reloaded"
    symptom = Symptom.HTTP_5XX
    cause = "upstream-unreachable"
    needs = ("upstream",)
    moved: tuple[tuple[Line, str], ...] = ()

    def describe(self, target: Target) -> str:
        choice = target.choice
        said = ", ".join(f"{short(line.file)}:{line.line} {line.arg} -> {new}" for line, new in self._moved(target))
        return f"the upstream behind {choice.upstream_probe} moves where nothing answers ({said}); nginx reloaded"

    def inject(self, target: Target) -> None:
        swap_lines(target, [(line, line.arg, new) for line, new in self._moved(target)])
        reload(target)

    def repair(self, target: Target) -> None:
        swap_lines(target, [(line, new, line.arg) for line, new in self._moved(target)])
        reload(target)

    def _moved(self, target: Target) -> tuple[tuple[Line, str], ...]:
        """Each address of the upstream and where it goes: chosen once, before the fault, so the repair finds it."""
        if self.moved:
            return self.moved
        choice = target.choice
        if not choice.upstream_lines:
            raise ValueError("no probe's request is proxied to an upstream that harness runs here")
        taken = set(choice.used_ports) | bound_ports(target)
        moved = []
        for line in choice.upstream_lines:
            if line.arg.startswith("unix:"):
                moved.append((line, moved_socket(line.arg)))
                continue
            tail = line.arg.rpartition(":")[2]
            port = int(tail) if tail.isdigit() else 80
            # Far from the port, not next to it: a neighbour is often another upstream of the same site.
            away = free_port(taken, port + 10000 if port < 50000 else port - 10000)
            taken.add(away)
            moved.append((line, with_port(line.arg, away)))
        self.moved = tuple(moved)
        return self.moved
