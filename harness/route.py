"""Where a probe's request lands in a configuration, as nginx would send it, without a server to ask.

The doctor's trace (harness.trace) follows a failing request on a live server
and stats what it meets. Scenarios need the same walk before any server
exists, to choose what to break: the server and location a probe reaches,
then `try_files` (its file tests, a named location, a URI fallback), the
index module's internal redirect, and the handler that answers (a `return`,
an upstream, or a file). What exists on disk is a question asked of EXISTS,
so the same walk serves a team's tree and the live test server.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.confmodel import ConfigModel, Directive, Location, Server
from harness.semantics import Request, choose_location, choose_server, configured_return, filesystem_path, index_names
from harness.server_paths import DEFAULT_ROOT

PASSES = ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "grpc_pass")
_HOPS = 8  # nginx itself stops internal redirects after 10


@dataclass(frozen=True)
class Line:
    """One configuration line a scenario edits, and the argument it holds there."""

    file: str
    line: int
    arg: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Route:
    """The handler a request ends at: kind is "return", "upstream", "file", or "unknown" (variables decide)."""

    request: Request
    server: Server
    location: Location | None
    kind: str
    reads: tuple[str, ...] = ()  # paths whose existence chose this way (a try_files test that held, an index found)
    base: str = ""  # the folder those paths are read from (root, or an alias's)
    base_line: Line | None = None  # the root or alias line naming it (None: inherited from nginx's default)
    file: str = ""  # the file nginx serves itself (kind "file")
    upstreams: tuple[Line, ...] = ()  # every address the request may be proxied to (kind "upstream")
    passes: Directive | None = None  # the proxy_pass/fastcgi_pass/... line (kind "upstream")


Exists = Callable[[str, bool], bool]  # (path, is a directory) -> does it exist in the server


def route(model: ConfigModel, request: Request, exists: Exists) -> Route | None:
    """Where REQUEST lands; None when no server takes it."""
    server = choose_server(model, request)
    if server is None:
        return None
    path = request.path.split("?", 1)[0]
    location = choose_location(server, path)
    reads: list[str] = []

    def ends(kind: str, file: str = "", passes: Directive | None = None) -> Route:
        base, line = _folder(model, server, location)
        ups = addresses(model, passes) if passes is not None and kind == "upstream" else ()
        return Route(request, server, location, kind, tuple(reads), base, line, file, ups, passes)

    for _ in range(_HOPS):
        if configured_return(server, location) is not None:
            return ends("return")
        passes = next((d for n in PASSES if location is not None and (d := location.get(n)) and d.args), None)
        tried = _try_files(server, location)
        if tried is not None and tried.args:
            found = _first_existing(tried.args[:-1], path, server, location, model, exists)
            if found is None and any(_variable(form, path) for form in tried.args[:-1]):
                return ends("unknown")
            if found is not None:
                reads.append(found[1])
                if passes is None and not found[0].endswith("/"):
                    return ends("file", found[1])
                path = found[0] if passes is None else path  # a folder: the index module takes it from here
            else:
                fallback = tried.args[-1]
                if fallback.startswith("="):
                    return ends("return")
                if fallback.startswith("@"):
                    location = next((loc for loc in server.locations if loc.path == fallback), None)
                    if location is None:
                        return ends("unknown")
                    continue
                if "$" in fallback.split("?", 1)[0]:
                    return ends("unknown")
                path = fallback.split("?", 1)[0]
                location = choose_location(server, path)
                continue
        if passes is not None:
            return ends("unknown" if "$" in passes.args[0] else "upstream", passes=passes)
        if not path.endswith("/"):
            file = filesystem_path(model, server, location, path)
            if file is None:
                return ends("unknown")
            reads.append(file)
            return ends("file", file)
        # The index module: the first index file that exists is an internal redirect to it; a last absolute one
        # is taken whether or not it exists.
        folder = filesystem_path(model, server, location, path)
        names = index_names(server, location, model)
        chosen = None
        for number, name in enumerate(names):
            if "$" in name:
                return ends("unknown")
            if name.startswith("/") and number == len(names) - 1:
                chosen = name
                break
            if folder is not None and exists(posixpath.join(folder, name), False):
                chosen = posixpath.join(path, name)
                reads.append(posixpath.join(folder, name))
                break
        if chosen is None:
            return ends("return")  # nginx answers 403 itself: no index file
        following = choose_location(server, chosen)
        if following is location and _try_files(server, location) is None:
            return ends("file", filesystem_path(model, server, location, chosen) or "")
        path, location = chosen, following
    return ends("unknown")


def _variable(form: str, path: str) -> bool:
    return "$" in _request_uri(form, path)


def _request_uri(form: str, path: str) -> str:
    """A try_files form with the request's own variables made PATH (the script's name, for a FastCGI one: the
    path up to `.php`, as the usual fastcgi_split_path_info cuts it)."""
    script = re.match(r"^(.+?\.php)(/.*)?$", path)
    named = form.replace("$fastcgi_script_name", script.group(1) if script else path)
    return named.replace("$uri", path).replace("$request_uri", path)


def _try_files(server: Server, location: Location | None) -> Directive | None:
    if location is not None:
        return location.get("try_files")
    return server.get("try_files")


def _folder(model: ConfigModel, server: Server, location: Location | None) -> tuple[str, Line | None]:
    """The folder files are read from where the request is, and the line that names it."""
    alias = location.get("alias") if location is not None else None
    if alias is not None and alias.args:
        return alias.args[0].rstrip("/") or "/", Line(alias.where.file, alias.where.line, alias.args[0])
    for level in ((location.directives if location is not None else ()), server.directives, model.http):
        found = next((d for d in level if d.name == "root" and d.args), None)
        if found is not None:
            return found.args[0].rstrip("/") or "/", Line(found.where.file, found.where.line, found.args[0])
    return DEFAULT_ROOT, None  # nginx's compiled-in default, as harness.trace reads it


def _first_existing(
    forms: tuple[str, ...], path: str, server: Server, location: Location | None, model: ConfigModel, exists: Exists
) -> tuple[str, str] | None:
    """The first try_files form that holds for PATH: (its URI, its filesystem path); None when none does."""
    for form in forms:
        uri = re.sub("/+", "/", _request_uri(form, path))
        if "$" in uri:
            continue
        where = filesystem_path(model, server, location, uri)
        if where is None:
            continue
        # nginx tests a folder for a form written with a trailing slash, and a file otherwise: `$uri` of `/` (a
        # folder) never holds.
        folder = form.endswith("/")
        where = where.rstrip("/") or "/" if folder else where
        if exists(where, folder) and (folder or not where.endswith("/")):
            return uri, where
    return None


def addresses(model: ConfigModel, passes: Directive) -> tuple[Line, ...]:
    """The lines naming each address PASSES sends to: an upstream block's server lines, or its own line."""
    target = passes.args[0]
    rest = target.split("://", 1)[1] if "://" in target else target
    if rest.startswith("unix:"):
        path = rest[len("unix:") :].split(":", 1)[0]
        return (Line(passes.where.file, passes.where.line, f"unix:{path}"),)
    host = rest.split("/", 1)[0]
    group = model.upstreams.get(host)
    if group:
        return tuple(Line(d.where.file, d.where.line, d.args[0]) for d in group if d.args)
    if ":" not in host.rsplit("]", 1)[-1]:
        host = f"{host}:{443 if target.startswith(('https://', 'grpcs://')) else 80}"
    return (Line(passes.where.file, passes.where.line, host),)
