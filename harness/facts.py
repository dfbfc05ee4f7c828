"""What the doctor sees inside a target, gathered in one round trip.

One fixed shell script (a constant, never built from input) prints every
check's raw output in sections; `parse_facts` turns that text into a frozen
Facts value that the diagnosis rules read. Keeping the parsing pure means the
rules are tested without Docker, on text captured from real targets.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from dataclasses import dataclass

from harness.confmodel import EMPTY, ConfigModel, parse_tree
from harness.inside import INSIDE_SECTION, NO_INSIDE, Inside, parse_inside
from harness.known_good import NO_STATE, RECORD_SECTION, ConfigFile, Record, State, parse_state
from harness.scripts import script
from harness.server_paths import BACKUP_DIR

SECTION = "@@harness-section "

# Each section is one check. `|| true` keeps going: a failing check is a fact, not an error.
# ps drops this script's own lines: its text would otherwise show up in the process list.
# nginx -t and nginx -T run once each; later sections reuse their output.
# The program itself ships as harness/scripts/collect.sh.
COLLECT_SCRIPT = script("collect.sh")
# Each cause unit may add sections of its own (constants it ships), run before the end marker.
END = "s end\n"


def _writer(line: str) -> int | None:
    """The pid of the nginx process that wrote an error.log LINE ("2026/12/05 07:13:28 [emerg] 41#41: ...")."""
    found = _WRITER.search(line[19:40])
    return int(found.group(1)) if found else None


_WRITER = re.compile(r"\] (\d+)#\d+:")


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
    users: tuple[tuple[str, int], ...] = ()  # (process name, pid) holding the socket, as ss -p shows

    @property
    def processes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for name, _ in self.users))

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(pid for _, pid in self.users))


@dataclass(frozen=True)
class EnabledSite:
    name: str
    kind: str  # "link", "file" or "other"
    link_target: str  # where a link points, "" otherwise
    target_exists: bool


@dataclass(frozen=True)
class MissingPath:
    """A file nginx -t could not open because it does not exist."""

    path: str
    directory: str
    directory_exists: bool


@dataclass(frozen=True)
class DocRoot:
    path: str
    exists: bool
    worker_can_read: bool  # the worker user can list and enter it
    index_files: tuple[str, ...]  # the `index` names present in it
    worker_user: str


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
    error_log: tuple[str, ...]  # the newest lines of every error log, oldest first
    # The file nginx -t blames, as named and resolved through links.
    config_file: tuple[str, str] | None = None
    missing: tuple[MissingPath, ...] = ()
    directives: tuple[tuple[str, str], ...] = ()
    docroots: tuple[DocRoot, ...] = ()
    open_files_limit: int | None = None  # the lowest soft RLIMIT_NOFILE of master and workers; None: unknown
    ulimit_settings: tuple[str, ...] = ()  # ULIMIT= lines of /etc/default/nginx
    error_logs: tuple[str, ...] = ("/var/log/nginx/error.log",)  # every error_log file the configuration names
    # Where requests from outside come from, as nginx sees them: the default gateway (Docker's port proxy).
    outside_client: str | None = None
    workers_started: str | None = None  # when the newest worker started, as error.log writes time (YYYY/MM/DD HH:MM:SS)
    config_exit: int = 0  # nginx -t's exit status: 127 (not found) or 126 (not executable) mean no nginx to run
    firewall_rules: tuple[str, ...] = ()  # iptables -S (every chain of the filter table), "-A ..." lines
    firewall_policies: tuple[str, ...] = ()  # its "-P CHAIN POLICY" lines
    firewall_readable: bool = False
    backups: tuple[str, ...] = ()  # under /var/backups/nginx, oldest first
    services: tuple[tuple[str, bool], ...] = ()  # init scripts under /etc/init.d and whether each runs
    config: ConfigModel = EMPTY  # /etc/nginx as nginx reads it
    inside: Inside = NO_INSIDE  # the second round trip's checks, planned from the configuration
    state: State = NO_STATE  # the paths nginx uses, as the second round trip saw them (the known-good record's part)
    # Raw sections of the collection script that cause units add for themselves, by name.
    sections: tuple[tuple[str, tuple[str, ...]], ...] = ()
    prefix: str = ""  # nginx's own prefix (`nginx -V`)
    known_good: str = ""  # as a baseline: the team's record it came from ("" : a healthy examination)

    def record(self, source: str = "") -> Record:
        """The known-good record these facts make (a healthy examination, or the team's own record)."""
        model = self.config
        config = tuple(
            ConfigFile(e.path, e.kind, e.mode, e.owner, e.link, e.sha256, model.raw.get(e.path))
            for e in sorted(model.files.values(), key=lambda e: e.path)
        )
        return Record(
            source=source or self.known_good or "the healthy examination",
            config=config,
            state=self.state,
            processes=tuple((p.pid, p.stat, p.args) for p in self.processes),
            listeners=tuple((item.address, item.port, ",".join(item.processes)) for item in self.listeners),
            firewall_rules=self.firewall_rules,
            firewall_policies=self.firewall_policies,
            firewall_readable=self.firewall_readable,
            services=self.services,
            open_files_limit=self.open_files_limit,
            ulimit_settings=self.ulimit_settings,
            directives=tuple((k, v) for k, v in self.directives if k == "worker_rlimit_nofile"),
        )

    @property
    def local_status(self) -> tuple[tuple[str, str], ...]:
        """(url, HTTP code) of every request nginx answered inside the server in the second round trip."""
        return tuple((f.url, f.code) for f in self.inside.fetches if f.code != "skipped")

    def section(self, name: str) -> tuple[str, ...]:
        return dict(self.sections).get(name, ())

    def service_state(self, name: str) -> bool | None:
        return dict(self.services).get(name)

    @property
    def nginx_processes(self) -> tuple[Process, ...]:
        return tuple(p for p in self.processes if p.comm == "nginx" and not p.zombie)

    @property
    def nginx_master(self) -> Process | None:
        return next((p for p in self.nginx_processes if "master process" in p.args), None)

    @property
    def pidfile_pid(self) -> int | None:
        return number(self.pidfile)

    @property
    def stale_pidfile(self) -> bool:
        """The pid file names a process that is gone: nginx died without cleaning up."""
        pid = self.pidfile_pid
        return pid is not None and pid not in {p.pid for p in self.nginx_processes}

    def listeners_on(self, port: int) -> tuple[Listener, ...]:
        return tuple(item for item in self.listeners if item.port == port)

    def nginx_listens_on(self, port: int) -> bool:
        return any("nginx" in item.processes for item in self.listeners_on(port))

    def others_on(self, port: int) -> tuple[Listener, ...]:
        """Listeners on PORT that are not nginx (a squatter)."""
        return tuple(item for item in self.listeners_on(port) if item.processes and "nginx" not in item.processes)

    def unlinked_sites(self) -> tuple[str, ...]:
        """Sites in sites-available that nothing in sites-enabled points at."""
        pointed = {
            e.link_target.rstrip("/").rsplit("/", 1)[-1] for e in self.enabled if e.kind == "link" and e.target_exists
        }
        named = {e.name for e in self.enabled}
        return tuple(site for site in self.available if site not in pointed and site not in named)

    def dangling_links(self) -> tuple[EnabledSite, ...]:
        return tuple(e for e in self.enabled if e.kind == "link" and not e.target_exists)

    def copied_sites(self) -> tuple[EnabledSite, ...]:
        """Regular files in sites-enabled: copies that no longer follow sites-available."""
        return tuple(e for e in self.enabled if e.kind == "file")

    def configured_for(self, port: int) -> bool:
        """Whether the config on disk (nginx -T) has a server listening on PORT."""
        return any(_listen_port(value) == port for value in self.directive("listen"))

    @property
    def nginx_runs_here(self) -> bool:
        """Whether an nginx binary could run at all: the shell found it and could execute it."""
        return self.config_exit not in (126, 127)

    def current_errors(self) -> tuple[str, ...]:
        """error.log's lines written since the running workers started (all of them when that is unknown): an
        older line speaks of a configuration or a limit that has since been replaced."""
        since = self.workers_started
        if since is None:
            return self.error_log
        # error.log's clock has whole seconds: in the second the workers started, a line is theirs only when a
        # running nginx wrote it (a failed reload's bind error is the master's; the old workers' are history).
        running = {p.pid for p in self.processes if p.comm == "nginx"}
        return tuple(
            line for line in self.error_log if line[:19] > since or (line[:19] == since and _writer(line) in running)
        )

    def directive(self, name: str) -> tuple[str, ...]:
        return tuple(value for key, value in self.directives if key == name)

    @property
    def worker_connections(self) -> int | None:
        values = [n for v in self.directive("worker_connections") if (n := number(v)) is not None]
        return max(values) if values else None

    def local(self, url: str) -> str | None:
        """The HTTP code fetched from URL inside the target ("000": no answer); None if not checked."""
        return dict(self.local_status).get(url)

    def backups_of(self, path: str) -> tuple[str, ...]:
        """Backups of PATH kept by the deploy tool, newest first (as paths under /var/backups/nginx)."""
        found = []
        for backup in reversed(self.backups):
            stamp, _, kept = backup.partition("/")
            # Only the deploy tool's timestamped folders: rejected or stale copies kept by remedies are not backups.
            if _NUMBER.match(stamp) and "/" + kept == path:
                found.append(f"{BACKUP_DIR}/{backup}")
        return tuple(found)


_NUMBER = re.compile(r"[0-9]{1,18}")


def _listen_port(value: str) -> int | None:
    """The port of a listen directive's address: "80", "[::]:80 default_server", "127.0.0.1:8080"."""
    address = value.split()[0] if value.split() else ""
    port = address.rsplit(":", 1)[-1] if not address.endswith("]") else ""
    return number(port) if port.isdigit() else None


def number(text: str) -> int | None:
    """A plain decimal number, or None (str.isdigit also accepts digits int() rejects, such as '²')."""
    return int(text) if _NUMBER.fullmatch(text) else None


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
        code = number(line[5:].strip())
        if line.startswith("exit=") and code is not None:
            return code
    return -1


_USERS = re.compile(r'\("([^"]+)",pid=(\d+)')


def _listeners(lines: list[str]) -> tuple[Listener, ...]:
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        local = fields[3]
        address, _, port = local.rpartition(":")
        if number(port) is None:
            continue
        users = tuple(dict.fromkeys((name, int(pid)) for name, pid in _USERS.findall(line)))
        found.append(Listener(address, int(port), users))
    return tuple(found)


def _processes(lines: list[str]) -> tuple[Process, ...]:
    found = []
    for line in lines:
        fields = line.split(None, 4)
        if len(fields) < 4 or number(fields[0]) is None or number(fields[1]) is None:
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


def _tabbed(lines: list[str], width: int) -> list[list[str]]:
    rows = []
    for line in lines:
        parts = line.split("\t")
        if len(parts) >= width:
            rows.append(parts)
    return rows


def _docroots(lines: list[str]) -> tuple[DocRoot, ...]:
    return tuple(
        DocRoot(r[0], r[1] == "dir", r[2] == "readable", tuple(i for i in r[3].split(",") if i), r[4])
        for r in _tabbed(lines, 5)
    )


def nginx_message(line: str) -> str:
    """What nginx says in an error-log (or nginx -t) line, without its time, level, pid#tid and connection number,
    and without the request fields that follow ", client:"."""
    text = re.sub(r"^\d+#\d+: (\*\d+ )?", "", line.split("] ", 1)[-1].strip())
    return text.split(", client: ", 1)[0]


def _gateway(lines: list[str]) -> str | None:
    """/proc/net/route's gateway (hex, little-endian) as a dotted address."""
    text = "".join(lines).strip()
    if not re.fullmatch(r"[0-9A-Fa-f]{8}", text) or text == "00000000":
        return None
    return ".".join(str(int(text[i : i + 2], 16)) for i in (6, 4, 2, 0))


_NOT_LIMITS = ("default-nginx:", "started:")


def _limit(lines: list[str]) -> int | None:
    """The lowest open-files limit among nginx's processes: a worker's own (worker_rlimit_nofile) or the master's."""
    values = [number(line.strip().removeprefix("worker:")) for line in lines if not line.startswith(_NOT_LIMITS)]
    known = [v for v in values if v is not None]
    return min(known) if known else None


# Sections the core reads itself; any other is a cause unit's, kept raw for it.
_CORE = {
    "ps", "pidfile", "configtest", "configfile", "missing", "directives", "docroot", "listen", "available",
    "enabled", "service", "limits", "firewall", "backups", "errorlog", "errorlogs", "gateway", "prefix", "services",
    "conftar", "end",
}  # fmt: skip


def _config(lines: list[str], prefix: str = "") -> ConfigModel:
    encoded = "".join(lines).strip()
    if not encoded:
        return EMPTY
    try:
        return parse_tree(base64.b64decode(encoded, validate=False), prefix)
    except (ValueError, binascii.Error):
        return EMPTY


def with_inside(facts: Facts, inside: Inside, state: State = NO_STATE) -> Facts:
    """FACTS completed by the second round trip (planned from them): the one step that adds to facts."""
    return dataclasses.replace(facts, inside=inside, state=state)


def parse_facts(text: str) -> Facts:
    """The facts in a collection script's output; a captured file may carry the second round trip after it."""
    # The second round trip follows the first one's end marker; a check's own output may mention the marker.
    at = text.find(f"\n{INSIDE_SECTION}", max(text.find(f"\n{SECTION}end"), 0))
    facts = _parse_first(text if at < 0 else text[:at])
    if at >= 0:
        rest = text[at:]
        state = parse_state(rest) if RECORD_SECTION in rest else NO_STATE
        facts = with_inside(facts, parse_inside(rest, facts.config.user), state)
    return facts


def _parse_first(text: str) -> Facts:
    sections = split_sections(text)
    if "end" not in sections:
        raise ValueError("the fact-gathering script did not finish; its output was cut short")
    config = sections.get("configtest", [])
    limits = sections.get("limits", [])
    firewall = sections.get("firewall", [])
    config_file = _tabbed(sections.get("configfile", []), 2)
    return Facts(
        processes=_processes(sections.get("ps", [])),
        pidfile=" ".join(sections.get("pidfile", [])).strip(),
        config_ok=_exit_code(config) == 0,
        config_exit=_exit_code(config),
        config_output="\n".join(line for line in config if not line.startswith("exit=")),
        listeners=_listeners(sections.get("listen", [])),
        available=tuple(sorted(line.split("\t")[1] for line in sections.get("available", []) if "\t" in line)),
        enabled=_enabled(sections.get("enabled", [])),
        service_running=_exit_code(sections.get("service", [])) == 0,
        # Several files' lines, merged by their timestamps (error.log's format sorts as text).
        error_log=tuple(sorted(sections.get("errorlog", []), key=lambda line: line[:19])),
        error_logs=tuple(line for line in sections.get("errorlogs", []) if line.startswith("/")),
        config_file=(config_file[0][0], config_file[0][1]) if config_file else None,
        missing=tuple(MissingPath(r[0], r[1], r[2] == "present") for r in _tabbed(sections.get("missing", []), 3)),
        directives=tuple((r[0], r[1].strip()) for r in _tabbed(sections.get("directives", []), 2)),
        docroots=_docroots(sections.get("docroot", [])),
        open_files_limit=_limit(limits),
        ulimit_settings=tuple(line.split(":", 2)[2] for line in limits if line.startswith("default-nginx:")),
        outside_client=_gateway(sections.get("gateway", [])),
        workers_started=next((line.removeprefix("started:") for line in limits if line.startswith("started:")), None),
        firewall_rules=tuple(line for line in firewall if line.startswith("-A ")),
        firewall_policies=tuple(line for line in firewall if line.startswith("-P ")),
        firewall_readable=_exit_code(firewall) == 0,
        backups=tuple(sections.get("backups", [])),
        services=tuple((r[0], r[1] == "running") for r in _tabbed(sections.get("services", []), 2)),
        config=_config(sections.get("conftar", []), "".join(sections.get("prefix", [])).strip()),
        prefix="".join(sections.get("prefix", [])).strip(),
        sections=tuple((name, tuple(lines)) for name, lines in sections.items() if name not in _CORE),
    )
