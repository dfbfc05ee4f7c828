"""What nginx does with a request under a configuration model: the one place that reads nginx's semantics.

Which server answers (listen and server_name), which location (exact, longest prefix, ^~, regex, nested), which
root or alias and index, what try_files looks for and where it hands on, which upstream a location passes to,
and how directives are inherited (the innermost level that sets an array directive wins). The trace, the
doctor's gathering plan, the scenarios' choices, site laying and `harness init` all ask here; none re-derives it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from harness.confmodel import ConfigModel, Directive, Location, Server
from harness.server_paths import DEFAULT_ROOT


@dataclass(frozen=True)
class Request:
    """A request to trace: what the probe or a load burst sent, as nginx inside the server would see it."""

    path: str = "/"
    host: str = ""
    port: int = 80
    under_load: bool = False  # only a load burst failed: one request inside proves nothing about the way in
    symptom: str = ""  # what the outside saw (refused, timeout, http-5xx, missing-text, ...)


def _name_matches(name: str, host: str) -> int:
    """How well server_name NAME matches HOST, in nginx's order: 4 exact, 3 *.x, 2 x.*, 1 regex, 0 no."""
    if not host:
        return 0
    if name == host:
        return 4
    if name.startswith("*.") and host.endswith(name[1:]):
        return 3
    if name.startswith(".") and (host == name[1:] or host.endswith(name)):
        return 3
    if name.endswith(".*") and host.startswith(name[:-1]):
        return 2
    if name.startswith("~"):
        try:
            return 1 if re.search(name[1:], host) else 0
        except re.error:
            return 0
    return 0


def choose_server(model: ConfigModel, request: Request) -> Server | None:
    candidates = model.servers_on(request.port)
    if not candidates:
        return None
    host = request.host.split(":")[0].lower()
    best = max(candidates, key=lambda s: max((_name_matches(n.lower(), host) for n in s.names), default=0))
    if max((_name_matches(n.lower(), host) for n in best.names), default=0) > 0:
        return best
    return next((s for s in candidates if s.default_on(request.port)), candidates[0])


def choose_location(server: Server, path: str) -> Location | None:
    """nginx's order: an exact match; else the longest prefix, unless ^~; else the first regex; else that prefix."""
    return _choose(server.locations, path)


def _choose(locations: tuple[Location, ...], path: str) -> Location | None:
    exact = next((loc for loc in locations if loc.modifier == "=" and loc.path == path), None)
    if exact is not None:
        return exact
    prefixes = [loc for loc in locations if loc.modifier in ("", "^~") and path.startswith(loc.path)]
    longest = max(prefixes, key=lambda loc: len(loc.path), default=None)
    if longest is not None and longest.locations:
        nested = _choose(longest.locations, path)
        if nested is not None:
            return nested
    if longest is not None and longest.modifier == "^~":
        return longest
    for loc in locations:
        if loc.modifier in ("~", "~*"):
            try:
                if re.search(loc.path, path, re.IGNORECASE if loc.modifier == "~*" else 0):
                    return loc
            except re.error:
                continue
    return longest


def configured_return(server: Server, location: Location | None) -> Directive | None:
    """The `return` nginx's rewrite phase answers with where a request lands: its location's, or, when no location
    matches, its server's."""
    return location.get("return") if location is not None else server.get("return")


def effective(server: Server, location: Location | None, name: str, model: ConfigModel) -> tuple[str, ...] | None:
    """A directive's arguments where a request lands: the location's, else the server's, else http's."""
    if location is not None:
        found = location.get(name)
        if found is not None:
            return found.args
    found = server.get(name)
    if found is not None:
        return found.args
    inherited = next((d for d in model.http if d.name == name), None)
    return inherited.args if inherited is not None else None


def innermost(model: ConfigModel, server: Server, location: Location | None, names: tuple[str, ...]) -> list[Directive]:
    """The directives NAMES where a request lands, as nginx inherits arrays: the innermost level that has any."""
    levels = ((location.directives if location is not None else ()), server.directives, model.http)
    for level in levels:
        found = [d for d in level if d.name in names and d.args]
        if found:
            return found
    return []


def index_names(server: Server, location: Location | None, model: ConfigModel) -> tuple[str, ...]:
    return effective(server, location, "index", model) or ("index.html",)


def filesystem_path(model: ConfigModel, server: Server, location: Location | None, path: str) -> str | None:
    """The filesystem path for PATH: alias replaces the location's prefix; root is prepended."""
    alias = location.get("alias") if location is not None else None
    if alias is not None and alias.args and location is not None and location.modifier in ("", "^~", "="):
        return posixpath.join(alias.args[0], path[len(location.path) :]) if path.startswith(location.path) else None
    root = effective(server, location, "root", model)
    base = root[0] if root else DEFAULT_ROOT
    if "$" in base:
        return None
    return base.rstrip("/") + path


def _script_name(location: Location | None, path: str) -> str:
    """$fastcgi_script_name for PATH: the URI, or the first part fastcgi_split_path_info's regex takes from it."""
    split = location.get("fastcgi_split_path_info") if location is not None else None
    if split is None or not split.args:
        return path
    try:
        found = re.match(split.args[0], path)
    except re.error:
        return path  # a PCRE form Python does not read: the whole URI, as nginx has it without a match
    return found.group(1) if found is not None and found.groups() else path


def file_candidates(model: ConfigModel, server: Server, location: Location | None, path: str) -> list[str]:
    """The files and directories nginx would look at for PATH, in order."""
    found: list[str] = []
    try_files = location.get("try_files") if location is not None else None
    forms = list(try_files.args[:-1]) if try_files is not None and try_files.args else ["$uri"]
    script = _script_name(location, path)
    for form in forms:
        uri = form.replace("$uri", path).replace("$request_uri", path).replace("$fastcgi_script_name", script)
        if "$" in uri:
            continue
        base = filesystem_path(model, server, location, uri)
        if base is None:
            continue
        if uri.endswith("/"):
            found.append(base.rstrip("/") or "/")
            found += [posixpath.join(base, name) for name in index_names(server, location, model) if "$" not in name]
        else:
            found.append(base)
    return found


def try_files_fallback(
    server: Server, location: Location | None, path: str
) -> tuple[Directive, Location | None, str] | None:
    """try_files's last argument, when it hands the request on: the named location (@app) or the location the URI
    it redirects to lands in. None when there is no try_files, or it ends in `=CODE`."""
    directive = location.get("try_files") if location is not None else None
    if directive is None or len(directive.args) < 2:
        return None
    last = directive.args[-1]
    if last.startswith("="):
        return None
    if last.startswith("@"):
        named = next((loc for loc in named_locations(server) if loc.path == last), None)
        return directive, named, last
    uri = last.split("?", 1)[0].replace("$uri", path)
    if "$" in uri or not uri.startswith("/"):
        return None
    return directive, choose_location(server, uri), uri


def named_locations(server: Server) -> list[Location]:
    found, stack = [], list(server.locations)
    while stack:
        location = stack.pop(0)
        found.append(location)
        stack.extend(location.locations)
    return [loc for loc in found if loc.modifier == "@"]


def upstream_of(location: Location, model: ConfigModel | None = None) -> str | None:
    """The URL (or unix:path) to ask directly for a proxied or FastCGI location; None for other kinds."""
    for name in ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "grpc_pass"):
        found = location.get(name)
        if found is None or not found.args:
            continue
        target = found.args[0]
        if "$" in target:
            return None  # a variable upstream cannot be asked without the request
        if target.startswith("unix:"):
            return target.split(":", 2)[0] + ":" + target.split(":")[1]
        if "://" not in target:
            # fastcgi_pass, uwsgi_pass and grpc_pass name a bare address; their protocol is not HTTP.
            target = f"{name.removesuffix('_pass') if name != 'proxy_pass' else 'http'}://{target}"
        scheme, _, rest = target.partition("://")
        host = rest.split("/", 1)[0]
        group = model.upstreams.get(host) if model is not None else None
        if group:  # an upstream block: ask its first server
            first = group[0].args[0] if group[0].args else host
            if first.startswith("unix:"):
                return first
            host = first
        return f"{scheme}://{host}/"
    return None


def upstream_members(location: Location, model: ConfigModel) -> list[str]:
    """Every server of the upstream group a location proxies to, as upstream_of names one (the first is its answer):
    nginx fails over among them, so the group is down only when every one of them is."""
    first = upstream_of(location, model)
    if first is None:
        return []
    directive = next(d for n in ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "grpc_pass") if (d := location.get(n)))
    scheme = first.split("://", 1)[0] if "://" in first else "http"
    name = directive.args[0].split("://", 1)[-1].split("/", 1)[0]
    group = model.upstreams.get(name) or ()
    members = [d.args[0] for d in group if d.args and d.name == "server"]
    found = [first]
    for member in members[1:]:
        url = member if member.startswith("unix:") else f"{scheme}://{member}/"
        if url not in found:
            found.append(url)
    return found


def local_url(model: ConfigModel, port: int, path: str) -> str:
    """The URL of PATH on PORT from inside the server: https where a server listens on the port with ssl."""
    tls = any(item.port == port and item.ssl for server in model.servers for item in server.listens)
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}{path}"


def host_of(server: Server) -> str:
    return next((n for n in server.names if n and n != "_" and "*" not in n and not n.startswith("~")), "localhost")


def tested_path(condition: tuple[str, ...], root: str | None) -> str | None:
    """The file an `if (-f …)`-style condition tests, with $document_root made ROOT; None for other conditions."""
    if len(condition) != 2 or condition[0].lstrip("!") not in ("-f", "-d", "-e", "-x"):
        return None
    path = condition[1].strip("\"'")
    if root is not None and "$" not in root:
        path = path.replace("$document_root", root.rstrip("/"))
    return path if path.startswith("/") and "$" not in path else None


def script_from_root(model: ConfigModel, server: Server, location: Location | None) -> bool:
    """Whether a FastCGI app finds its script under the root: SCRIPT_FILENAME built from $document_root."""
    # fastcgi_param is an array directive: the innermost level that sets any replaces the outer ones whole.
    levels = (location.directives if location is not None else (), server.directives, model.main)
    params = next(([d for d in level if d.name == "fastcgi_param"] for level in levels
                   if any(d.name == "fastcgi_param" for d in level)), [])  # fmt: skip
    roots = ("$document_root", "$realpath_root")
    return any(d.args[:1] == ("SCRIPT_FILENAME",) and any(r in " ".join(d.args[1:]) for r in roots) for d in params)
