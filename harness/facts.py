"""What the doctor sees inside a target, gathered in one round trip.

One fixed shell script (a constant, never built from input) prints every
check's raw output in sections; `parse_facts` turns that text into a frozen
Facts value that the diagnosis rules read. Keeping the parsing pure means the
rules are tested without Docker, on text captured from real targets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTION = "@@harness-section "

# Each section is one check. `|| true` keeps going: a failing check is a fact, not an error.
# ps drops this script's own lines: its text would otherwise show up in the process list.
COLLECT_SCRIPT = r"""
export LC_ALL=C
s() { printf '\n@@harness-section %s\n' "$1"; }
s ps;          ps -eo pid=,ppid=,stat=,comm=,args= | grep -v -e '@@harness-section' || true
s pidfile;     cat /run/nginx.pid 2>/dev/null || true
s configtest;  nginx -t 2>&1; echo "exit=$?"
s listen;      ss -ltnpH 2>/dev/null || true
s available;   find /etc/nginx/sites-available -mindepth 1 -maxdepth 1 -printf '%y\t%f\t%l\n' 2>/dev/null || true
s enabled;     find /etc/nginx/sites-enabled -mindepth 1 -maxdepth 1 -printf '%y\t%Y\t%f\t%l\n' 2>/dev/null || true
s service;     service nginx status >/dev/null 2>&1; echo "exit=$?"
s errorlog;    tail -n 20 /var/log/nginx/error.log 2>/dev/null || true
s end
"""


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    stat: str
    comm: str
    args: str

    @property
    def stopped(self) -> bool:
        return self.stat.startswith("T")

    @property
    def zombie(self) -> bool:
        return self.stat.startswith("Z")


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    processes: tuple[str, ...]


@dataclass(frozen=True)
class EnabledSite:
    name: str
    kind: str  # "link", "file" or "other"
    link_target: str  # where a link points, "" otherwise
    target_exists: bool


@dataclass(frozen=True)
class Facts:
    processes: tuple[Process, ...]
    pidfile: str
    config_ok: bool
    config_output: str
    listeners: tuple[Listener, ...]
    available: tuple[str, ...]
    enabled: tuple[EnabledSite, ...]
    service_running: bool
    error_log: tuple[str, ...]

    @property
    def nginx_processes(self) -> tuple[Process, ...]:
        return tuple(p for p in self.processes if p.comm == "nginx" and not p.zombie)

    @property
    def nginx_master(self) -> Process | None:
        return next((p for p in self.nginx_processes if "master process" in p.args), None)

    def listeners_on(self, port: int) -> tuple[Listener, ...]:
        return tuple(item for item in self.listeners if item.port == port)

    def nginx_listens_on(self, port: int) -> bool:
        return any("nginx" in item.processes for item in self.listeners_on(port))

    def unlinked_sites(self) -> tuple[str, ...]:
        """Sites in sites-available that nothing in sites-enabled points at."""
        pointed = {
            e.link_target.rstrip("/").rsplit("/", 1)[-1] for e in self.enabled if e.kind == "link" and e.target_exists
        }
        named = {e.name for e in self.enabled}
        return tuple(site for site in self.available if site not in pointed and site not in named)

    def dangling_links(self) -> tuple[EnabledSite, ...]:
        return tuple(e for e in self.enabled if e.kind == "link" and not e.target_exists)


def split_sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(SECTION):
            current = sections.setdefault(line[len(SECTION) :].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: [line for line in lines if line.strip()] for name, lines in sections.items()}


def _exit_code(lines: list[str]) -> int:
    for line in reversed(lines):
        if line.startswith("exit="):
            return int(line[5:])
    return -1


_USERS = re.compile(r'\("([^"]+)",pid=')


def _listeners(lines: list[str]) -> tuple[Listener, ...]:
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        local = fields[3]
        address, _, port = local.rpartition(":")
        if not port.isdigit():
            continue
        found.append(Listener(address, int(port), tuple(dict.fromkeys(_USERS.findall(line)))))
    return tuple(found)


def _processes(lines: list[str]) -> tuple[Process, ...]:
    found = []
    for line in lines:
        fields = line.split(None, 4)
        if len(fields) < 4 or not fields[0].isdigit():
            continue
        found.append(
            Process(int(fields[0]), int(fields[1]), fields[2], fields[3], fields[4] if len(fields) > 4 else "")
        )
    return tuple(found)


def _enabled(lines: list[str]) -> tuple[EnabledSite, ...]:
    kinds = {"l": "link", "f": "file"}
    found = []
    for line in lines:
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        kind = kinds.get(parts[0], "other")
        # find's %Y: type of what a link points at; N = nowhere, L = a loop.
        exists = parts[1] not in ("N", "L", "?")
        found.append(EnabledSite(parts[2], kind, parts[3] if len(parts) > 3 else "", exists))
    return tuple(found)


def parse_facts(text: str) -> Facts:
    sections = split_sections(text)
    if "end" not in sections:
        raise ValueError("the fact-gathering script did not finish; its output was cut short")
    config = sections.get("configtest", [])
    return Facts(
        processes=_processes(sections.get("ps", [])),
        pidfile=" ".join(sections.get("pidfile", [])).strip(),
        config_ok=_exit_code(config) == 0,
        config_output="\n".join(line for line in config if not line.startswith("exit=")),
        listeners=_listeners(sections.get("listen", [])),
        available=tuple(sorted(line.split("\t")[1] for line in sections.get("available", []) if "\t" in line)),
        enabled=_enabled(sections.get("enabled", [])),
        service_running=_exit_code(sections.get("service", [])) == 0,
        error_log=tuple(sections.get("errorlog", [])),
    )
