"""The known-good record: what the healthy examination saw, kept as the state a repair may put back.

Every examination gathers the same state (the healthy one's is the record) in
its existing round trips: the first brings /etc/nginx (content and all), the
processes, listeners, firewall rules, services and limits; the second, planned
from the configuration, stats every path nginx reads, writes or serves (type,
mode, owner, group, inode, link target, a digest of each small file), lists
the folders it serves from and the temp and log folders (a path gone here and
one that appeared there with the same inode or digest is a move), and brings
the bytes of the small files a repair may need to write back (index files,
error pages, /etc/default/nginx, /etc/security/limits*). Private keys travel
as digests only.

One frozen `Record` turns into JSON and back here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import posixpath
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.scripts import script
from harness.server_paths import CONF_ROOT

if TYPE_CHECKING:
    from harness.confmodel import ConfigModel

RECORD_SECTION = "@@harness-record "
MAX_RECORDED = 400  # paths stat'ed one by one; folders listed one level down add theirs
LIMIT_FILES = ("/etc/default/nginx", "/etc/security/limits.conf")
LIMIT_FOLDERS = ("/etc/security/limits.d",)
# Directives naming a file nginx reads, writes or serves; relative ones are read from nginx's prefix.
_FILE_DIRECTIVES = (
    "ssl_certificate", "ssl_certificate_key", "ssl_trusted_certificate", "ssl_client_certificate", "ssl_dhparam",
    "auth_basic_user_file", "access_log", "error_log", "pid",
)  # fmt: skip
_TEMP_DIRECTIVES = (
    "client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path",
    "proxy_cache_path", "fastcgi_cache_path",
)  # fmt: skip
_SECRET = ("ssl_certificate_key",)


@dataclass(frozen=True)
class Entry:
    """One path as find saw it: its type (find's %y: f, d, l, s, p, ...), mode, owner, group, inode, size."""

    path: str
    kind: str
    mode: str  # octal, as find prints it
    owner: str
    group: str
    inode: int
    size: int
    link: str = ""  # a link's target, as written
    sha256: str = ""  # regular files up to 1 MiB

    def describe(self) -> str:
        kind = {"f": "file", "d": "folder", "l": "link", "s": "socket", "p": "pipe"}.get(self.kind, self.kind)
        return f"link -> {self.link}" if self.kind == "l" else f"{kind} {self.mode.zfill(4)} {self.owner}:{self.group}"


@dataclass(frozen=True)
class Sent:
    """A request exactly as a client sent it (the probe's, a load burst's), to replay from inside the server."""

    path: str = "/"
    host: str = ""
    scheme: str = "http"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def port(self) -> int:
        return 443 if self.scheme == "https" else 80

    def url(self) -> str:
        return f"{self.scheme}://{self.host or '127.0.0.1'}:{self.port}{self.path}"

    def args(self) -> list[str]:
        resolve = f"{self.host}:{self.port}:127.0.0.1" if self.host else ""
        return [self.method, self.url(), resolve, "\n".join(f"{k}: {v}" for k, v in self.headers)]


@dataclass(frozen=True)
class Answer:
    """What nginx answered a replayed request inside: status ("000": none), Location, a digest of the body."""

    method: str
    url: str
    status: str
    location: str
    digest: str

    def line(self) -> str:
        return f"{self.status}" + (f" to {self.location}" if self.location else "") + f", body {self.digest[:12]}"


@dataclass(frozen=True)
class State:
    """What the second round trip saw of the paths nginx uses (empty when it did not run)."""

    entries: tuple[Entry, ...] = ()
    contents: tuple[tuple[str, bytes], ...] = ()
    users: tuple[str, ...] = ()  # getent lines of nginx's user and its group, and "groups:..." (its groups)
    gathered: bool = False
    answers: tuple[Answer, ...] = ()  # the replayed requests' answers

    def answer(self, method: str, url: str) -> Answer | None:
        return next((a for a in self.answers if (a.method, a.url) == (method, url)), None)

    def entry(self, path: str) -> Entry | None:
        return _index(self.entries).get(path)

    def content(self, path: str) -> bytes | None:
        return dict(self.contents).get(path)

    def paths(self) -> dict[str, Entry]:
        return _index(self.entries)


NO_STATE = State()


def _index(entries: tuple[Entry, ...]) -> dict[str, Entry]:
    return {e.path: e for e in entries}


@dataclass(frozen=True)
class ConfigFile:
    """One path under /etc/nginx, with its bytes (a configuration file is small and a person's to restore)."""

    path: str
    kind: str  # "file", "dir", "link"
    mode: int
    owner: str
    link: str = ""
    sha256: str = ""
    content: bytes | None = None


@dataclass(frozen=True)
class Record:
    """The known-good state: where it came from, /etc/nginx, the paths nginx uses, and what ran."""

    source: str  # "the healthy examination", or the team's own record ("etckeeper (/etc/.git)")
    config: tuple[ConfigFile, ...] = ()
    state: State = NO_STATE
    processes: tuple[tuple[int, str, str], ...] = ()  # (pid, stat, args)
    listeners: tuple[tuple[str, int, str], ...] = ()  # (address, port, processes)
    firewall_rules: tuple[str, ...] = ()
    firewall_policies: tuple[str, ...] = ()
    firewall_readable: bool = False
    services: tuple[tuple[str, bool], ...] = ()
    open_files_limit: int | None = None
    ulimit_settings: tuple[str, ...] = ()
    directives: tuple[tuple[str, str], ...] = field(default=())  # worker_rlimit_nofile and the like, as nginx -T

    def config_file(self, path: str) -> ConfigFile | None:
        return next((f for f in self.config if f.path == path), None)

    def to_json(self) -> str:
        return json.dumps(_plain(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Record:
        data = json.loads(text)
        state = data.get("state", {})
        return cls(
            source=str(data["source"]),
            config=tuple(
                ConfigFile(**{**f, "content": _unb64(f["content"]) if f.get("content") is not None else None})
                for f in data.get("config", [])
            ),
            state=State(
                entries=tuple(Entry(**e) for e in state.get("entries", [])),
                contents=tuple((p, _unb64(c)) for p, c in state.get("contents", [])),
                users=tuple(state.get("users", [])),
                gathered=bool(state.get("gathered", False)),
                answers=tuple(Answer(**a) for a in state.get("answers", [])),
            ),
            processes=tuple((int(p), str(s), str(a)) for p, s, a in data.get("processes", [])),
            listeners=tuple((str(a), int(p), str(w)) for a, p, w in data.get("listeners", [])),
            firewall_rules=tuple(data.get("firewall_rules", [])),
            firewall_policies=tuple(data.get("firewall_policies", [])),
            firewall_readable=bool(data.get("firewall_readable", False)),
            services=tuple((str(n), bool(r)) for n, r in data.get("services", [])),
            open_files_limit=data.get("open_files_limit"),
            ulimit_settings=tuple(data.get("ulimit_settings", [])),
            directives=tuple((str(k), str(v)) for k, v in data.get("directives", [])),
        )


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


# -- what to gather ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gather:
    """The record's part of the second round trip: arguments to a constant script."""

    user: str
    paths: tuple[str, ...]
    folders: tuple[str, ...]
    contents: tuple[str, ...]
    deep: tuple[str, ...] = ()  # folders listed two levels down (those above a root)
    replay: tuple[Sent, ...] = ()

    def args(self) -> list[str]:
        sent = [word for request in self.replay for word in request.args()]
        return [self.user, "-p", *self.paths, "-l", *self.folders, "-L", *self.deep, "-c", *self.contents, "-q", *sent]


def _absolute(value: str, prefix: str) -> str | None:
    if not value or "$" in value or value in ("off", "stderr", "syslog") or value.startswith(("syslog:", "memory:")):
        return None
    if value.startswith("/"):
        return posixpath.normpath(value)
    return posixpath.normpath(posixpath.join(prefix or CONF_ROOT, value)) if prefix or value else None


def _components(path: str) -> list[str]:
    parts = [p for p in posixpath.normpath(path).split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _all_directives(model: ConfigModel) -> Iterable[tuple[str, tuple[str, ...]]]:
    for item in model.main:
        yield item.name, item.args
    for server in model.servers:
        for item in server.directives:
            yield item.name, item.args
    for _, location in model.all_locations():
        for item in location.directives:
            yield item.name, item.args


def gather_plan(
    model: ConfigModel,
    error_logs: tuple[str, ...] = (),
    prefix: str = "",
    also: tuple[str, ...] = (),
    replay: tuple[Sent, ...] = (),
) -> Gather:
    """Every path nginx reads (outside /etc/nginx, which the first round trip brings), writes or serves; ALSO: the
    paths a record holds, so that one gone since is seen gone (the configuration may no longer name it)."""
    prefix = prefix or CONF_ROOT
    paths: list[str] = []
    folders: list[str] = []
    contents: list[str] = [*LIMIT_FILES]

    def add(path: str | None, ancestors: bool = True) -> None:
        if path is None:
            return
        for part in _components(path) if ancestors else [path]:
            if part not in paths:
                paths.append(part)

    def listed(folder: str | None) -> None:
        if folder is not None and folder not in folders:
            add(folder)
            folders.append(folder)

    deep: list[str] = []
    roots: list[str] = []
    for name, args in _all_directives(model):
        if name in ("root", "alias") and args:
            root = _absolute(args[0], prefix)
            if root is not None and root not in roots:
                roots.append(root)
        elif name in _FILE_DIRECTIVES and args:
            found = _absolute(args[0], prefix)
            if found is not None and not found.startswith(CONF_ROOT + "/"):
                add(found)
                if name not in _SECRET and name in ("ssl_certificate", "ssl_trusted_certificate", "ssl_dhparam"):
                    contents.append(found)
            if found is not None and name in ("access_log", "error_log", "pid"):
                listed(posixpath.dirname(found))
        elif name in _TEMP_DIRECTIVES and args:
            listed(_absolute(args[0], prefix))
    root_default = _absolute("html", prefix)
    for root in roots or ([root_default] if root_default else []):
        listed(root)
        # One level up too: a root moved or renamed beside itself is found there.
        parent = posixpath.dirname(root)
        if parent not in ("/", "/usr", "/usr/share", "/var", "/srv", "/home", "/opt") and parent not in deep:
            add(parent)
            deep.append(parent)
    for name, args in _all_directives(model):
        # Index files and error pages, in every root: small files a person wrote, whose bytes a deletion loses.
        names = args if name == "index" else args[-1:] if name == "error_page" else ()
        for page in names:
            if "$" in page or page.startswith("@"):
                continue
            for root in roots:
                path = posixpath.normpath(posixpath.join(root, page.lstrip("/")))
                if path not in contents:
                    contents.append(path)
    for page in ("index.html", "index.htm"):
        for root in roots:
            contents.append(posixpath.join(root, page))
    for log in error_logs:
        add(log)
        listed(posixpath.dirname(log))
    listed("/var/lib/nginx")  # Debian's temp paths
    for folder in ("/run", *LIMIT_FOLDERS):
        listed(folder)
    add("/etc/default/nginx")
    add("/etc/security/limits.conf")
    for path in also:
        add(path, ancestors=False)
    return Gather(
        model.user, tuple(paths[:MAX_RECORDED]), tuple(folders), tuple(dict.fromkeys(contents)), tuple(deep), replay
    )


def argv(gather: Gather) -> list[str]:
    return ["sh", "-c", script("record.sh"), "sh", *gather.args()]


# -- what came back ------------------------------------------------------------------------------------


def parse_state(text: str) -> State:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(RECORD_SECTION):
            current = sections.setdefault(line[len(RECORD_SECTION) :].strip(), [])
        elif current is not None and line.strip():
            current.append(line)
    if "end" not in sections:
        return NO_STATE
    digests: dict[str, str] = {}
    for line in sections.get("digest", []):
        digest, _, path = line.partition("  ")
        if len(digest) == 64 and path:
            digests[path] = digest
    entries: dict[str, Entry] = {}
    for line in sections.get("stat", []):
        parts = line.split("\t")
        if len(parts) < 8 or not parts[5].isdigit() or not parts[6].isdigit():
            continue
        path = posixpath.normpath(parts[0])
        entries.setdefault(
            path,
            Entry(path, parts[1], parts[2], parts[3], parts[4], int(parts[5]), int(parts[6]), parts[7],
                  digests.get(parts[0], "")),
        )  # fmt: skip
    answers = []
    for line in sections.get("replay", []):
        parts = line.split("\t")
        if len(parts) == 5:
            answers.append(Answer(parts[0], parts[1], parts[2] or "000", parts[3], parts[4]))
    return State(
        tuple(sorted(entries.values(), key=lambda e: e.path)),
        _contents("".join(sections.get("content", []))),
        tuple(sections.get("users", [])),
        True,
        tuple(answers),
    )


def _contents(encoded: str) -> tuple[tuple[str, bytes], ...]:
    if not encoded.strip():
        return ()
    found = []
    try:
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(encoded)), mode="r:*") as archive:
            for member in archive:
                if member.isfile():
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        found.append(("/" + member.name.lstrip("/"), extracted.read()))
    except (tarfile.TarError, binascii.Error, ValueError, EOFError):
        return ()
    return tuple(sorted(found))
