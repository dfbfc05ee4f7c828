"""What a site's nginx needs outside its tree to pass `nginx -t` and answer as it would on its own server.

A tree under /etc/nginx names things it does not hold: the user nginx runs as,
certbot's files under /etc/letsencrypt, folders for logs, caches and temp
files, the pages of its roots and error pages, names of upstreams. Each is a
`Need`: what the target gets (only where it is missing, and said so in the
preflight), and the directive that asked for it. Pure: the model in, a list out.

Pages are generated only where nginx itself would serve them: a location whose
`try_files` falls through to an application keeps falling through (a generated
index.html there would turn the app's page into a static one); the file a
fallback URI names (WordPress's /index.php) is generated, since the FastCGI
handler needs it to exist.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from harness.confmodel import ConfigModel, Directive, Location, Server
from harness.semantics import effective, index_names
from harness.server_paths import DEFAULT_ROOT

# Handlers that answer a location without reading its root.
_HANDLERS = ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass", "return")
# Directives naming a folder nginx creates files in (the first argument).
_FOLDERS = (
    "proxy_cache_path",
    "fastcgi_cache_path",
    "uwsgi_cache_path",
    "scgi_cache_path",
    "client_body_temp_path",
    "proxy_temp_path",
    "fastcgi_temp_path",
    "uwsgi_temp_path",
    "scgi_temp_path",
)
# Directives naming a file nginx opens at `nginx -t`, and what stands in for it when it is missing.
CERTBOT_OPTIONS = "options-ssl-nginx.conf"
DHPARAMS = "ssl-dhparams.pem"
EMPTY_INCLUDE = "empty.conf"
EMPTY = "empty"


@dataclass(frozen=True)
class Need:
    """One thing the target gets if it lacks it. KIND says how (see site_lay.PREPARE); WHY is the directive."""

    kind: str  # user, folder, page, certificate, copy-of-certificate, file, ticket-key
    path: str  # the user's name, or the path in the target
    why: str  # "ssl_dhparam at /etc/nginx/sites-available/x:12"
    extra: tuple[str, ...] = ()  # a user's group; a certificate's key and name; a copy's source; a page's title

    def args(self) -> list[str]:
        return [self.path, *self.extra, self.why]


def _why(directive: Directive) -> str:
    return f"{directive.name} at {directive.where}"


def _every(model: ConfigModel) -> Iterator[Directive]:
    """Every directive: main and http, servers, locations (nested too), and their `if` blocks; one at a time, since a
    blocklist has millions."""
    yield from model.main
    for server in model.servers:
        yield from server.directives
        yield from (d for c in server.conditionals for d in c.directives)
    for _, location in model.all_locations():
        yield from location.directives
        yield from (d for c in location.conditionals for d in c.directives)


def needs(model: ConfigModel, given: tuple[str, ...] = ()) -> list[Need]:
    """What MODEL needs outside /etc/nginx, in the order it must be made (users, folders, certificates, then
    files made from them, pages); nothing under GIVEN (content the team provides)."""
    out: list[Need] = []

    def add(need: Need) -> None:
        if "$" in need.path or (not need.path.startswith("/") and need.kind != "user"):
            return
        if any(need.path == g or need.path.startswith(g.rstrip("/") + "/") for g in given):
            return
        if all(need.path != n.path for n in out):
            out.append(need)

    user = model.directive("user")
    if user is not None and user.args:
        group = user.args[1] if len(user.args) > 1 else user.args[0]
        add(Need("user", user.args[0], _why(user), (group,)))
    for directive in _every(model):
        if not directive.args:
            continue
        first = _absolute(directive.args[0])
        if directive.name in _FOLDERS:
            add(Need("folder", first.rstrip("/"), _why(directive)))
        elif directive.name in ("error_log", "access_log") and directive.args[0] not in ("off", "stderr"):
            if not first.startswith("/dev/") and ":" not in directive.args[0].split("/", 1)[0]:  # not syslog:…
                add(Need("folder", posixpath.dirname(_log(directive.args[0])), _why(directive)))
        elif directive.name == "pid":
            add(Need("folder", posixpath.dirname(first), _why(directive)))
    for server in model.servers:
        cert = effective(server, None, "ssl_certificate", model)
        key = effective(server, None, "ssl_certificate_key", model)
        if cert and key and not cert[0].startswith("data:") and not key[0].startswith("data:"):
            name = next((n for n in server.names if n and n != "_"), "localhost")
            where = next(d for d in (server.get("ssl_certificate"), *model.http) if d and d.name == "ssl_certificate")
            add(Need("certificate", _absolute(cert[0]), _why(where), (_absolute(key[0]), name)))
    certificate = next((n.path for n in out if n.kind == "certificate"), "")
    for directive in _every(model):
        if not directive.args:
            continue
        first = _absolute(directive.args[0])
        if directive.name in ("ssl_trusted_certificate", "ssl_client_certificate") and certificate:
            # A self-signed certificate is its own chain.
            add(Need("copy-of-certificate", first, _why(directive), (certificate,)))
        elif directive.name == "ssl_dhparam":
            add(Need("file", first, _why(directive), (DHPARAMS,)))
        elif directive.name == "ssl_session_ticket_key":
            add(Need("ticket-key", first, _why(directive)))
        elif directive.name in ("ssl_password_file", "auth_basic_user_file"):
            # Empty: the stand-in key has no passphrase, and a password list with no one in it answers 401, as the
            # team's server answers a probe without credentials.
            add(Need("file", first, _why(directive), (EMPTY,)))
    for include in model.includes:
        # Inside /etc/nginx a missing include is the tree's own mistake (nginx -t says so); outside it, the tree
        # cannot hold the file: certbot's options get certbot's content, anything else an empty file.
        if not include.collected and not any(ch in include.resolved for ch in "*?["):
            source = CERTBOT_OPTIONS if include.resolved.endswith("/" + CERTBOT_OPTIONS) else EMPTY_INCLUDE
            add(Need("file", include.resolved, f"include at {include.where}", (source,)))
    for server in model.servers:
        for page in _pages(model, server):
            add(page)
    return out


def _absolute(path: str) -> str:
    return path if path.startswith("/") else posixpath.join("/etc/nginx", path)


def _log(path: str) -> str:
    # nginx reads a relative log path from its prefix (/usr/share/nginx on Debian), not from /etc/nginx.
    return path if path.startswith("/") else posixpath.join("/usr/share/nginx", path)


def _title(server: Server) -> str:
    return next((n for n in server.names if n and n != "_"), "harness site")


def _pages(model: ConfigModel, server: Server) -> list[Need]:
    from harness.semantics import choose_location

    found = []
    # `/` (every server's probe), and folders of their own (alias): a page for another prefix under the root would
    # make the root exist, and `try_files $uri $uri/ @app` would then answer `/` with 403 instead of the app.
    own = [loc.path for loc in server.locations if loc.modifier in ("", "^~") and loc.get("alias") is not None]
    paths = ["/", *(p for p in own if p.endswith("/"))]
    for path in dict.fromkeys(paths):
        location = choose_location(server, path)
        file = _served(model, server, location, path)
        if file:
            where = location.where if location is not None else server.where
            found.append(Need("page", file, f"{path} at {where}", (_title(server),)))
    pages = [d for d in (*model.http, *server.directives) if d.name == "error_page"]
    pages += [d for _, loc in _locations(model, server) for d in loc.directives if d.name == "error_page"]
    for directive in pages:
        uri = directive.args[-1] if directive.args else ""
        if not uri.startswith("/") or "$" in uri:
            continue
        uri = uri.split("?", 1)[0]
        location = choose_location(server, uri)
        if location is not None and any(location.get(n) for n in _HANDLERS):
            continue
        base = filesystem_path(model, server, location, uri)
        if base:
            found.append(Need("page", base, _why(directive), (f"{_title(server)} error page",)))
    return found


def _locations(model: ConfigModel, server: Server) -> list[tuple[Server, Location]]:
    return [(s, loc) for s, loc in model.all_locations() if s is server]


def filesystem_path(model: ConfigModel, server: Server, location: Location | None, uri: str) -> str:
    """The file nginx reads for URI in LOCATION ("" when it cannot be known without the request)."""
    alias = location.get("alias") if location is not None else None
    if alias is not None and alias.args and location is not None:
        if location.modifier not in ("", "^~", "="):
            return ""
        return _absolute_root(alias.args[0]) + uri[len(location.path) :] if "$" not in alias.args[0] else ""
    roots = effective(server, location, "root", model) or (DEFAULT_ROOT,)
    return "" if "$" in roots[0] else _absolute_root(roots[0]).rstrip("/") + uri


def _absolute_root(path: str) -> str:
    return path if path.startswith("/") else posixpath.join("/usr/share/nginx", path)


def _served(model: ConfigModel, server: Server, location: Location | None, path: str) -> str:
    """The file nginx itself serves for PATH (a directory's index, or a fallback URI's file); "" when an
    application answers it, or the file would take the request away from one."""
    if location is not None and any(location.get(n) for n in _HANDLERS):
        return ""
    if server.get("return") is not None:
        return ""  # the server's own return answers before any location
    tries = effective(server, location, "try_files", model)
    if tries:
        fallback = tries[-1]
        if fallback.startswith("@"):
            return ""  # an application answers what the files do not: generate nothing that would shadow it
        if not fallback.startswith("="):
            uri = fallback.split("?", 1)[0]
            return filesystem_path(model, server, location, uri) if uri.startswith("/") and "$" not in uri else ""
        if not any(t.endswith("/") for t in tries[:-1]):
            return ""  # only files: a directory's index is never served here
    index = next((i for i in index_names(server, location, model) if "$" not in i), "")
    if not index or index.startswith("/"):
        return ""
    base = filesystem_path(model, server, location, path)
    return posixpath.join(base, index) if base else ""
