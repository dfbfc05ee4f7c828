"""The nginx configuration as nginx reads it: server blocks, locations, includes, with file and line.

The doctor's collection script sends `/etc/nginx` out of the target as a tar,
in the same round trip as its other checks, so the configuration is read
even when `nginx -t` fails (which is when it matters most). Each file is
parsed by crossplane (NGINX Inc's parser) on its own; includes are resolved
here, against the tar rather than this machine's disk: globs, symlinks and
all, as nginx would resolve them inside the server.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import io
import posixpath
import re
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import crossplane

from harness.conflex import Statement, needs_crossplane, parse_text
from harness.server_paths import CONF_ROOT, MAIN_CONF

_MAX_LINK_HOPS = 16


@dataclass(frozen=True)
class FileEntry:
    """One path under /etc/nginx as the tar showed it."""

    path: str
    kind: str  # "file", "dir", "link"
    mode: int
    owner: str
    link: str = ""  # a link's target, as written
    sha256: str = ""  # a file's content hash


@dataclass(frozen=True, slots=True)  # one per directive: a blocklist has millions
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    args: tuple[str, ...]
    file: str
    line: int

    @property
    def where(self) -> Where:
        # Made when asked: a blocklist's millions of directives do not each carry a Where.
        return Where(self.file, self.line)


@dataclass(frozen=True)
class Listen:
    address: str  # "" for any address
    port: int
    default_server: bool
    ssl: bool
    where: Where


@dataclass(frozen=True)
class Conditional:
    """An `if (…) { … }` block: its condition is not evaluated (it needs the request), but what it does is kept."""

    condition: tuple[str, ...]
    where: Where
    directives: tuple[Directive, ...]

    def get(self, name: str) -> Directive | None:
        return next((d for d in self.directives if d.name == name), None)

    def label(self) -> str:
        return f"if ({' '.join(self.condition).strip('()')})"


@dataclass(frozen=True)
class Location:
    modifier: str  # "", "=", "~", "~*", "^~", or "@" for a named location
    path: str
    where: Where
    directives: tuple[Directive, ...]
    locations: tuple[Location, ...] = ()  # nested
    conditionals: tuple[Conditional, ...] = ()

    def get(self, name: str) -> Directive | None:
        return next((d for d in self.directives if d.name == name), None)


@dataclass(frozen=True)
class Server:
    where: Where
    listens: tuple[Listen, ...]
    names: tuple[str, ...]
    directives: tuple[Directive, ...]  # the server's own, outside locations
    locations: tuple[Location, ...]
    conditionals: tuple[Conditional, ...] = ()

    def get(self, name: str) -> Directive | None:
        return next((d for d in self.directives if d.name == name), None)

    def listens_on(self, port: int) -> bool:
        return any(item.port == port for item in self.listens)

    def default_on(self, port: int) -> bool:
        return any(item.port == port and item.default_server for item in self.listens)

    def label(self) -> str:
        name = next((n for n in self.names if n not in ("", "_")), "")
        return f"server {name} ({self.where})" if name else f"the server at {self.where}"


@dataclass(frozen=True)
class Include:
    pattern: str  # as written
    resolved: str  # absolute pattern
    where: Where
    matched: tuple[str, ...]
    collected: bool  # False: the pattern points outside /etc/nginx, which the doctor does not collect


@dataclass(frozen=True)
class ConfigModel:
    files: dict[str, FileEntry]
    servers: tuple[Server, ...]
    includes: tuple[Include, ...]
    main: tuple[Directive, ...]  # directives of the main, events and http contexts (not servers)
    http: tuple[Directive, ...]  # the http context's own directives (root, index inherited by servers)
    errors: tuple[str, ...] = ()  # what the parser could not read, with file:line
    parsed: tuple[str, ...] = ()  # the files read, in order
    contents: dict[str, str] = field(
        default_factory=dict, compare=False, repr=False
    )  # the text nginx read, by real path
    upstreams: dict[str, tuple[Directive, ...]] = field(default_factory=dict)  # upstream NAME -> its server lines
    raw: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)  # every file's bytes, by path

    def directive(self, name: str) -> Directive | None:
        return next((d for d in self.main if d.name == name), None)

    def value(self, name: str) -> str | None:
        found = self.directive(name)
        return found.args[0] if found and found.args else None

    @property
    def user(self) -> str:
        found = self.value("user")
        return found or "www-data"

    @property
    def worker_connections(self) -> Directive | None:
        return self.directive("worker_connections")

    def servers_on(self, port: int) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if s.listens_on(port))

    def ports(self) -> set[int]:
        return {item.port for s in self.servers for item in s.listens}

    def all_locations(self) -> Iterator[tuple[Server, Location]]:
        for server in self.servers:
            stack = list(server.locations)
            while stack:
                location = stack.pop(0)
                yield server, location
                stack.extend(location.locations)

    def file_of(self, path: str) -> FileEntry | None:
        return self.files.get(path)


EMPTY = ConfigModel({}, (), (), (), ())


# -- reading the tar ---------------------------------------------------------------------------------


def files_from_tar(data: bytes) -> tuple[dict[str, FileEntry], dict[str, bytes]]:
    """The entries of a tar of /etc/nginx (made with `tar -C / -cf - etc/nginx`), and the files' bytes."""
    entries: dict[str, FileEntry] = {}
    contents: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive:
            path = "/" + member.name.lstrip("./").rstrip("/")
            owner = member.uname or str(member.uid)
            if member.issym():
                entries[path] = FileEntry(path, "link", member.mode, owner, link=member.linkname)
            elif member.isdir():
                entries[path] = FileEntry(path, "dir", member.mode, owner)
            elif member.isfile():
                extracted = archive.extractfile(member)
                content = extracted.read() if extracted is not None else b""
                contents[path] = content
                entries[path] = FileEntry(path, "file", member.mode, owner, sha256=hashlib.sha256(content).hexdigest())
    return entries, contents


def resolve(path: str, files: dict[str, FileEntry]) -> str | None:
    """PATH with every symlink followed inside the tar; None when it ends nowhere (dangling, a loop, outside)."""
    path = posixpath.normpath(path)
    for _ in range(_MAX_LINK_HOPS):
        parts = path.strip("/").split("/")
        resolved = ""
        for index, part in enumerate(parts):
            candidate = f"{resolved}/{part}"
            entry = files.get(candidate)
            if entry is not None and entry.kind == "link":
                target = entry.link if entry.link.startswith("/") else posixpath.join(resolved or "/", entry.link)
                rest = "/".join(parts[index + 1 :])
                path = posixpath.normpath(posixpath.join(target, rest) if rest else target)
                break
            resolved = candidate
        else:
            entry = files.get(resolved)
            return resolved if entry is not None else None
    return None


def _glob(pattern: str, files: dict[str, FileEntry]) -> list[str]:
    """Paths in the tar matching PATTERN as glob(3) would (a directory part may itself be a link)."""
    directory, _, name = pattern.rpartition("/")
    real_dir = resolve(directory or "/", files) if directory else "/"
    if real_dir is None:
        return []
    found = []
    for path in files:
        parent, _, base = path.rpartition("/")
        if parent == real_dir and fnmatch.fnmatchcase(base, name) and not (base.startswith(".") and name[:1] != "."):
            found.append(f"{directory}/{base}")
    return sorted(found)


# -- parsing ---------------------------------------------------------------------------------------------


def parse_tree(data: bytes, prefix: str = "") -> ConfigModel:
    """The model of the configuration in a tar of /etc/nginx; never raises on a broken configuration. PREFIX is
    nginx's own (`nginx -V`), which relative roots and aliases are read from."""
    if not data:
        return EMPTY
    try:
        files, contents = files_from_tar(data)
    except (tarfile.TarError, OSError, EOFError) as exc:
        return replace_errors(EMPTY, (f"the configuration could not be read from the server: {exc}",))
    return _Reader(files, contents, prefix).read()


def replace_errors(model: ConfigModel, errors: tuple[str, ...]) -> ConfigModel:
    return dataclasses.replace(model, errors=errors)


class _Reader:
    def __init__(self, files: dict[str, FileEntry], contents: dict[str, bytes], prefix: str = "") -> None:
        self.prefix = prefix
        self.files = files
        self.contents = contents
        self.errors: list[str] = []
        self.includes: list[Include] = []
        self.parsed: list[str] = []
        self.main: list[Directive] = []
        self.http: list[Directive] = []
        self.servers: list[Server] = []
        self.upstreams: dict[str, tuple[Directive, ...]] = {}
        self._stack: list[str] = []

    def read(self) -> ConfigModel:
        statements = self._statements(MAIN_CONF, Where(MAIN_CONF, 0))
        self._walk(statements, context="main")
        # By real path, as `where` names files: a site read through its sites-enabled link is found under
        # sites-available.
        real = {r for p in self.parsed if (r := resolve(p, self.files)) is not None}
        text = {p: c.decode(errors="replace") for p, c in self.contents.items() if p in real}
        return ConfigModel(
            self.files,
            tuple(self.servers),
            tuple(self.includes),
            tuple(self.main),
            tuple(self.http),
            tuple(self.errors),
            tuple(self.parsed),
            text,
            self.upstreams,
            self.contents,
        )

    def _statements(self, path: str, at: Where) -> list[Statement]:
        """The statements of one file, each tagged with its file; includes expanded in place."""
        real = resolve(path, self.files)
        if real is None or real not in self.contents:
            self.errors.append(f"{at}: {path} cannot be opened (it does not exist in the server)")
            return []
        if path in self._stack:
            self.errors.append(f"{at}: {path} includes itself")
            return []
        self.parsed.append(path)
        text = self.contents[real].decode(errors="replace")
        if needs_crossplane(text):
            config = self._crossplane(real)
        else:
            config, errors = parse_text(text)
            self.errors.extend(f"{real}:{line}: {message}" for message, line in errors)
        del text
        self._stack.append(path)
        try:
            return self._expand(config, path)
        finally:
            self._stack.pop()

    def _crossplane(self, real: str) -> list[Statement]:
        """A file conflex leaves to crossplane (Lua blocks): parsed from a scratch copy, its errors named by path."""
        with tempfile.TemporaryDirectory(prefix="harness-conf-") as folder:
            scratch = Path(folder) / "file.conf"
            scratch.write_bytes(self.contents[real])
            payload = crossplane.parse(str(scratch), single=True, check_ctx=False, check_args=False)
        for error in payload["errors"]:
            message = re.sub(r" in \S+:\d+$", "", str(error["error"]).replace(str(scratch), real))
            self.errors.append(f"{real}:{error.get('line') or '?'}: {message}")
        return [Statement.from_crossplane(e) for e in payload["config"][0]["parsed"]] if payload["config"] else []

    def _expand(self, statements: list[Statement], path: str) -> list[Statement]:
        out: list[Statement] = []
        # Evidence names the file a person edits: the link's target, not sites-enabled/NAME.
        file = resolve(path, self.files) or path
        for statement in statements:
            statement.file = file
            if self.prefix and statement.directive in ("root", "alias") and statement.args:
                # nginx reads a relative root or alias from its prefix (`nginx -V`), not from /etc/nginx.
                first = statement.args[0]
                if first and not first.startswith(("/", "$")):
                    statement.args = (posixpath.join(self.prefix, first), *statement.args[1:])
            if statement.block is not None:
                statement.block = self._expand(statement.block, path)
            if statement.directive == "include" and statement.args:
                out.extend(self._include(statement, path))
                continue
            out.append(statement)
        return out

    def _include(self, statement: Statement, path: str) -> list[Statement]:
        pattern = statement.args[0]
        where = Where(path, statement.line)
        absolute = pattern if pattern.startswith("/") else posixpath.join(CONF_ROOT, pattern)
        collected = absolute.startswith(CONF_ROOT + "/")
        magic = any(ch in absolute for ch in "*?[")
        if not collected:
            matched: list[str] = []
        elif magic:
            matched = [m for m in _glob(absolute, self.files) if resolve(m, self.files) in self.contents]
        else:
            matched = [absolute] if resolve(absolute, self.files) in self.contents else []
            if not matched:
                self.errors.append(f"{where}: include {pattern}: the file does not exist")
        self.includes.append(Include(pattern, absolute, where, tuple(matched), collected))
        out: list[Statement] = []
        for name in matched:
            out.extend(self._statements(name, where))
        return out

    # -- the walk: contexts into servers and locations -------------------------------------------------
    def _walk(self, statements: list[Statement], context: str) -> None:
        for statement in _consumed(statements):
            name = statement.directive
            if name in ("events", "http") and statement.block is not None:
                self._walk(statement.block, name)
            elif name == "server" and context == "http":
                self.servers.append(self._server(statement))
            elif name == "upstream" and context == "http" and statement.args:
                lines = tuple(_directive(s) for s in (statement.block or []) if s.directive == "server")
                self.upstreams[statement.args[0]] = lines
            elif statement.block is None:
                directive = _directive(statement)
                self.main.append(directive)
                if context == "http":
                    self.http.append(directive)

    def _server(self, statement: Statement) -> Server:
        listens, directives, locations, conditionals = [], [], [], []
        names: list[str] = []
        for inner in _consumed(statement.block or []):
            name = inner.directive
            if name == "location" and inner.block is not None:
                locations.append(_location(inner))
            elif name == "if" and inner.block is not None:
                conditionals.append(_conditional(inner))
            elif name == "listen":
                listens.append(_listen(inner))
            elif name == "server_name":
                names.extend(inner.args)
                directives.append(_directive(inner))
            elif inner.block is None:
                directives.append(_directive(inner))
        if not listens:  # nginx's default: *:80 (as root)
            listens.append(Listen("", 80, False, False, _where(statement)))
        return Server(
            _where(statement), tuple(listens), tuple(names), tuple(directives), tuple(locations), tuple(conditionals)
        )


_GONE = Statement("", 0, ())


def _consumed(block: list[Statement]) -> Iterator[Statement]:
    """The statements of BLOCK, each let go once read: a blocklist's millions of lines are never held twice, as
    parsed statements and as Directives, so reading takes the memory of one."""
    for index, statement in enumerate(block):
        block[index] = _GONE
        yield statement


def _where(statement: Statement) -> Where:
    return Where(statement.file or "?", statement.line)


def _directive(statement: Statement) -> Directive:
    return Directive(statement.directive, statement.args, statement.file or "?", statement.line)


def _location(statement: Statement) -> Location:
    args = list(statement.args)
    modifier = args[0] if len(args) > 1 and args[0] in ("=", "~", "~*", "^~") else ""
    path = args[-1] if args else ""
    if path.startswith("@"):
        modifier = "@"
    directives, nested, conditionals = [], [], []
    for inner in _consumed(statement.block or []):
        if inner.directive == "location" and inner.block is not None:
            nested.append(_location(inner))
        elif inner.directive == "if" and inner.block is not None:
            conditionals.append(_conditional(inner))
        elif inner.block is None:
            directives.append(_directive(inner))
    return Location(modifier, path, _where(statement), tuple(directives), tuple(nested), tuple(conditionals))


def _conditional(statement: Statement) -> Conditional:
    inner = tuple(_directive(s) for s in (statement.block or []) if s.block is None)
    return Conditional(tuple(statement.args), _where(statement), inner)


def _listen(statement: Statement) -> Listen:
    args = list(statement.args) or ["80"]
    address = args[0]
    port = 80
    host = ""
    if address.startswith("unix:"):
        port = -1
    elif address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 80
    elif ":" in address:
        host, _, text = address.rpartition(":")
        port = int(text) if text.isdigit() else 80
    elif address.isdigit():
        port = int(address)
    else:
        host = address
    flags = set(args[1:])
    return Listen(host, port, "default_server" in flags or "default" in flags, "ssl" in flags, _where(statement))
