"""The doctor's second round trip: checks inside the server that only the parsed configuration can name.

The first round trip brings the configuration out; from it come the paths to
look at (every root and alias, the index files, the files failing requests
would read), the requests to make through nginx (each server's `/` and every
proxied location, plus the requests that failed outside) and the upstreams
to ask directly. All of that travels as arguments to one constant script:
a value read from the server is never shell text.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.confmodel import ConfigModel
from harness.scripts import script
from harness.semantics import (
    Request,
    choose_location,
    choose_server,
    effective,
    file_candidates,
    host_of,
    index_names,
    local_url,
    tested_path,
    try_files_fallback,
    upstream_members,
    upstream_of,
)
from harness.server_paths import DEFAULT_ROOT

INSIDE_SECTION = "@@harness-inside "
MAX_PATHS = 300
MAX_FETCHES = 40

# Arguments: USER, then groups introduced by a marker word: -p PATH..., -f HOST URL..., -u URL...
# For the paths: one `stat` of them all (kind, mode, owner; a missing one prints nothing), and one shell as USER
# that says whether USER may read and enter each (test -r / -x): two processes, not three per path.
INSIDE_SCRIPT = "\n" + script("inside.sh")  # the program ships as harness/scripts/inside.sh


@dataclass(frozen=True)
class PathStat:
    path: str
    exists: bool
    kind: str = ""  # "directory", "regular file", "symbolic link", ...
    mode: str = ""  # octal, as stat prints it
    owner: str = ""
    readable: bool = False  # by the worker user
    enterable: bool = False  # x: a directory the worker may enter (or a file it may execute)
    size: int | None = None  # bytes (None: not read, as in facts captured before sizes were)
    mtime: int | None = None  # seconds since the epoch


@dataclass(frozen=True)
class Fetch:
    host: str
    url: str
    code: str  # "200", "000" (no answer), "skipped"


@dataclass(frozen=True)
class Inside:
    user: str = ""
    paths: dict[str, PathStat] = field(default_factory=dict)
    fetches: tuple[Fetch, ...] = ()
    upstreams: dict[str, str] = field(default_factory=dict)  # upstream URL (or unix:path) -> code
    ran: bool = False
    errors: tuple[str, ...] = ()  # the error logs' newest lines, read after the requests: oldest first

    def said_about(self, request: Request) -> str | None:
        """nginx's newest error line about the inside request for REQUEST (from this server, to its path)."""
        wanted = f'request: "GET {request.path} HTTP/'
        ours = ("client: 127.0.0.1,", "client: ::1,")
        for line in reversed(self.errors):
            host_ok = not request.host or f'host: "{request.host}' in line or "host:" not in line
            if wanted in line and any(client in line for client in ours) and host_ok:
                return line
        return None

    def stat(self, path: str) -> PathStat | None:
        return self.paths.get(path)

    def logged_failure(self, request: Request) -> str | None:
        """nginx's error-log line about the inside request for REQUEST when it says the request failed on the
        server's side (a critical error, a permission refused, too many files), not one the site asks for (a
        directory with no index, a page that is not there)."""
        said = self.said_about(request)
        if said is None:
            return None
        failed = any(f"[{level}]" in said for level in ("crit", "alert", "emerg")) or any(
            errno in said for errno in ("(13: Permission denied)", "(24: Too many open files)")
        )
        return said if failed else None


NO_INSIDE = Inside()


@dataclass(frozen=True)
class Plan:
    user: str
    paths: tuple[str, ...]
    fetches: tuple[tuple[str, str], ...]
    upstreams: tuple[str, ...]
    logs: tuple[str, ...] = ()  # error logs to read once the requests are answered

    def argv(self) -> list[str]:
        args = [self.user, "-p", *self.paths]
        if self.fetches:
            args += ["-f", *(part for pair in self.fetches for part in pair)]
        if self.upstreams:
            args += ["-u", *self.upstreams]
        if self.logs and self.fetches:
            args += ["-e", *self.logs]
        return ["sh", "-c", INSIDE_SCRIPT, "sh", *args]


def components(path: str) -> list[str]:
    """Every directory above PATH and PATH itself: /var, /var/www, /var/www/html."""
    parts = [p for p in posixpath.normpath(path).split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def plan(model: ConfigModel, requests: Iterable[Request] = (), logs: tuple[str, ...] = ()) -> Plan:
    """What to look at inside, from the configuration and the failing requests."""

    paths: list[str] = []
    fetches: list[tuple[str, str]] = []
    upstreams: list[str] = []

    def add_path(path: str) -> None:
        for part in components(path):
            if part not in paths:
                paths.append(part)

    for server in model.servers:
        port = next((item.port for item in server.listens if item.port > 0), 80)
        if len(fetches) < MAX_FETCHES:
            fetches.append((host_of(server), local_url(model, port, "/")))
        for location in (None, *server.locations):
            root = effective(server, location, "root", model)
            alias = location.get("alias") if location is not None else None
            # The same files the trace will look at: a server that names no root serves nginx's default one.
            base = alias.args[0] if alias is not None and alias.args else root[0] if root else DEFAULT_ROOT
            if base and "$" not in base:
                add_path(base)
                if location is None or location.path.endswith("/"):
                    for name in index_names(server, location, model):
                        if "$" not in name and not name.startswith("/"):
                            add_path(posixpath.join(base, name))
            for block in location.conditionals if location is not None else server.conditionals:
                tested = tested_path(block.condition, root[0] if root else None)
                if tested is not None:
                    add_path(tested)  # a maintenance file, say: whether it exists decides what nginx answers
            if (
                location is not None
                and base
                and (alias is not None or location.get("root") is not None)
                and location.modifier in ("", "^~", "=")
                and len(fetches) < MAX_FETCHES
                and port > 0
            ):
                # A folder of its own (an alias, a root): asked through nginx, whose error log says why it fails.
                fetches.append((host_of(server), local_url(model, port, location.path)))
            if location is not None:
                upstream = upstream_of(location, model)
                if upstream is not None and upstream not in upstreams:
                    upstreams.append(upstream)
                    if location.modifier in ("", "^~", "=") and len(fetches) < MAX_FETCHES and port > 0:
                        fetches.append((host_of(server), local_url(model, port, location.path)))
                # The rest of its group: nginx fails over among them, so each is asked too.
                upstreams += [m for m in upstream_members(location, model)[1:] if m not in upstreams]
    for request in requests:
        chosen = choose_server(model, request)
        if chosen is None:
            continue
        location = choose_location(chosen, request.path)
        for candidate in file_candidates(model, chosen, location, request.path):
            add_path(candidate)
        moved = try_files_fallback(chosen, location, request.path)
        if moved is not None and moved[1] is not None and moved[2].startswith("/"):
            # try_files hands on to a URI (/index.php): the files the location it lands in looks for are traced too.
            for candidate in file_candidates(model, chosen, moved[1], moved[2]):
                add_path(candidate)
        url = local_url(model, request.port, request.path)
        if (request.host or host_of(chosen), url) not in fetches and len(fetches) < MAX_FETCHES:
            fetches.append((request.host or host_of(chosen), url))
    return Plan(model.user, tuple(paths[:MAX_PATHS]), tuple(fetches), tuple(upstreams), logs)


def parse_inside(text: str, user: str) -> Inside:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(INSIDE_SECTION):
            current = sections.setdefault(line[len(INSIDE_SECTION) :].strip(), [])
        elif current is not None and line.strip():
            current.append(line)
    if "end" not in sections:
        return Inside(user=user)
    paths: dict[str, PathStat] = {}
    stats = dict(line.split("\t", 1) for line in sections.get("stat", []) if "\t" in line)
    for line in sections.get("access", []):
        path, _, flags = line.partition("\t")
        if path in paths:
            continue  # the first answer counts (a fallback line may follow a partial one)
        if path not in stats:
            paths[path] = PathStat(path, False)
            continue
        kind, mode, owner, *more = stats[path].split("|")
        size, mtime = (int(v) if v.isdigit() else None for v in (*more, "", "")[:2])
        readable, enterable = flags[:1] == "y", flags[1:2] == "y"
        paths[path] = PathStat(path, True, kind, mode.zfill(3), owner, readable, enterable, size, mtime)
    for line in sections.get("paths", []):  # the format before one stat and one access shell (captured facts)
        parts = line.split("\t")
        if len(parts) == 2 and parts[1] == "missing":
            paths[parts[0]] = PathStat(parts[0], False)
        elif len(parts) >= 3:
            kind, _, rest = parts[1].partition("|")
            mode, _, owner = rest.partition("|")
            flags = parts[2]
            paths[parts[0]] = PathStat(parts[0], True, kind, mode.zfill(3), owner, flags[:1] == "y", flags[1:2] == "y")
    # Fetched side by side, they answer in any order: sorted, evidence reads the same from run to run.
    lines = sorted(line for line in sections.get("fetches", []) if line.count("\t") >= 2)
    fetches = tuple(Fetch(*line.split("\t")[:3]) for line in lines)
    upstreams: dict[str, str] = {}
    for line in sorted(sections.get("upstreams", [])):
        url, _, code = line.partition("\t")
        if code:
            upstreams[url] = code
    began = next(iter(sections.get("began", [])), "")  # absent from facts captured before it was written
    logged = (line for line in sections.get("errors", []) if line[:19] >= began)
    errors = tuple(sorted(logged, key=lambda line: line[:19]))
    return Inside(user, paths, fetches, upstreams, True, errors)
