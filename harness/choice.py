"""What a scenario breaks on this server: chosen from the site's parsed configuration, or the test server's own.

A scenario declares what it needs (`needs = ("site-link", "root")`); harness
checks the site has it before any target starts, and a scenario reads its
choice from `target.choice` instead of hard-coding the test server's paths:
the enabled site that serves a probe, a root a probe reads, an upstream a
probe uses, the file holding a directive.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from harness.confmodel import ConfigModel, resolve
from harness.route import PASSES, Exists, Line, Route, route
from harness.semantics import Request, choose_location, effective, script_from_root
from harness.site import Site, Upstream, probes_for

if TYPE_CHECKING:
    from harness.command import Server

_LISTEN = re.compile(r"\blisten\s+([^\s;]+)")

# What a scenario may need, and how to say that a site lacks it.
NEEDS = {
    "site-link": "a site enabled by a link in sites-enabled/",
    "root": "a static root that a probe reads",
    "root-line": "a root or alias line naming the folder a probe reads",
    "static-index": "an index page nginx serves itself (not one it hands to FastCGI or a proxy)",
    "upstream": "a proxied upstream that a probe uses",
    "conf-d": "an include of conf.d/*.conf",
    "sites-include": "an include of sites-enabled/ in nginx.conf",
    "port-80": "a server listening on port 80",
    "server-name": "a server_name line in the enabled site",
    "listen-80": "a 'listen 80' line in the enabled site",
    "worker-connections": "a worker_connections line",
    "test-server": "harness's own test server (its app, releases and deploy tools)",
    "unlimited-page": "a page a load burst can hit without nginx's own rate limit (limit_req / limit_conn)",
    "log-dir": "a log nginx opens under /var/log/nginx (its error_log or an access_log)",
}


@dataclass(frozen=True)
class Choice:
    site_name: str  # the link's name in sites-enabled
    site_file: str  # the file it points at (sites-available/NAME)
    root: str  # a static root a probe reads
    index: str  # the page nginx reads there for that probe (its index file, or the file itself)
    static_index: bool  # nginx itself reads that page (a PHP index goes to FastCGI, which nginx never reads)
    upstream_host: str
    upstream_port: int
    upstream_file: str  # the file with the proxy line
    upstream_service: str  # the init script that runs the upstream
    nginx_conf: str
    worker_connections_file: str
    test_server: bool
    probe: str = ""  # the probe whose request reads the chosen root
    upstream_probe: str = ""  # the probe whose request is proxied to the chosen upstream
    file: str = ""  # the file nginx serves for that probe (root plus index, or an alias's file)
    upstream_address: str = ""  # host:port or unix:PATH, as the configuration names it
    free_port: int = 0  # a port nothing on the site listens on, proxies to or runs an upstream on
    root_line: Line | None = None  # the root or alias line naming `root` (None: nginx's compiled-in default)
    upstream_lines: tuple[Line, ...] = ()  # every line naming an address of the chosen upstream
    listen_lines: tuple[Line, ...] = ()  # the port-80 listen lines of the chosen site file
    used_ports: frozenset[int] = frozenset()  # what the configuration and its upstream commands use
    sites_include: Line | None = None  # nginx.conf's include of sites-enabled, as written


# Values a YAML scenario may name as {{ placeholders }}: the plain ones (lines are for Python scenarios).
PLACEHOLDERS = tuple(f.name for f in fields(Choice) if f.type in ("str", "int", "bool"))

TEST_SERVER = Choice(
    "default",
    "/etc/nginx/sites-available/default",
    "/var/www/html",
    "index.html",
    True,
    "127.0.0.1",
    9000,
    "/etc/nginx/sites-available/default",
    "app",
    "/etc/nginx/nginx.conf",
    "/etc/nginx/nginx.conf",
    True,
    "http://(default)/",
    "http://(default)/app/",
    "/var/www/html/index.html",
    "127.0.0.1:9000",
    8080,
)


TEST_SERVER_PROBES = (Request("/"), Request("/app/"))
FIRST_FREE = 8080  # where a search for a free port starts: the port people move a site to "for testing"
# `list` asks every scenario whether it applies: the probes are traced once per site, not once per scenario.
_cache: dict[int, tuple[Site, Choice]] = {}


def choose(site: Site | None) -> Choice:
    """The choice on SITE (the test server's when None); a need the site lacks leaves its field empty."""
    if site is None:
        return TEST_SERVER
    cached = _cache.get(id(site))
    if cached is not None and cached[0] is site:
        return cached[1]
    requests = tuple(
        Request(p.path.split("?", 1)[0] or "/", p.host, 443 if p.scheme == "https" else 80) for p in probes_for(site)
    )
    served = {u.address: u for u in site.upstreams() if u.protocol in ("http", "fastcgi")}
    choice = choose_from(site.model, requests, _exists(site.model, dict(site.settings.content)), served, site)
    _cache.clear()
    _cache[id(site)] = (site, choice)
    return choice


def choose_live(model: ConfigModel) -> Choice:
    """The test server's choice from its live configuration: its probes, its app behind /app/, its files."""
    app = Upstream("127.0.0.1", 9000, "")
    chosen = choose_from(model, TEST_SERVER_PROBES, _exists(model, {}), {"127.0.0.1:9000": app}, None)
    return dataclasses.replace(
        chosen,
        site_name=chosen.site_name or TEST_SERVER.site_name,
        site_file=chosen.site_file or TEST_SERVER.site_file,
        upstream_service="app",
        test_server=True,
    )


def choose_from(
    model: ConfigModel,
    requests: tuple[Request, ...],
    exists: Exists,
    served: dict[str, Upstream],
    site: Site | None,
) -> Choice:
    """What to break so that a probe sees it: each probe's request traced to where it lands (harness.route)."""
    routes = [r for request in requests if (r := route(model, request, exists)) is not None]
    site_name, site_file = _site_link(model, routes, site)
    reading = next((r for r in routes if _reads_root(model, r, exists)), None)
    # A location that proxies itself before one reached through try_files: the plainer fault of the two.
    proxying = sorted(
        (r for r in routes if r.kind == "upstream" and r.upstreams and all(_served(u, served) for u in r.upstreams)),
        key=lambda r: r.location is not choose_location(r.server, r.request.path),
    )
    proxied = proxying[0] if proxying else None
    upstream = _served(proxied.upstreams[0], served) if proxied is not None else None
    used = _used_ports(model, site)
    conf = model.worker_connections
    static = reading is not None and reading.kind == "file" and bool(reading.file)
    return Choice(
        site_name,
        site_file,
        reading.base if reading is not None else "",
        posixpath.basename(reading.file) if static and reading is not None else "",
        static,
        upstream.host if upstream is not None else "",
        upstream.port if upstream is not None else 0,
        proxied.upstreams[0].file if proxied is not None else "",
        upstream.service if upstream is not None else "",
        "/etc/nginx/nginx.conf",
        conf.where.file if conf is not None else "",
        False,
        probe=_label(reading),
        upstream_probe=_label(proxied),
        file=reading.file if static and reading is not None else "",
        upstream_address=proxied.upstreams[0].arg if proxied is not None else "",
        free_port=free_port(used),
        root_line=reading.base_line if reading is not None else None,
        upstream_lines=proxied.upstreams if proxied is not None else (),
        listen_lines=_listen_lines(model, site_file),
        used_ports=frozenset(used),
        sites_include=next(
            (
                Line(i.where.file, i.where.line, i.pattern)
                for i in model.includes
                if "sites-enabled" in i.pattern and i.where.file == "/etc/nginx/nginx.conf" and i.matched
            ),
            None,
        ),
    )


def _reads_root(model: ConfigModel, found: Route, exists: Exists) -> bool:
    """Whether breaking the folder FOUND reads from changes what answers: nginx serves a file from it, or without
    it the request lands elsewhere (a try_files test, as a PHP snippet's of its script, or the index fails)."""
    if found.kind == "file":
        return True
    if found.kind != "upstream" or not found.reads:
        return False
    # PHP-FPM answers 404 "File not found." when the script is gone, though nginx passes every request on.
    if (
        found.passes is not None
        and found.passes.name == "fastcgi_pass"
        and script_from_root(model, found.server, found.location)
    ):
        return True
    base = found.base.rstrip("/")

    def without(path: str, folder: bool) -> bool:
        return not (path == base or path.startswith(base + "/")) and exists(path, folder)

    elsewhere = route(model, found.request, without)
    return elsewhere is None or (elsewhere.kind, elsewhere.passes) != (found.kind, found.passes)


def _label(chosen: Route | None) -> str:
    if chosen is None:
        return ""
    request = chosen.request
    return f"{'https' if request.port == 443 else 'http'}://{request.host or '(default)'}{request.path}"


def _served(line: Line, served: dict[str, Upstream]) -> Upstream | None:
    """The upstream harness runs in the server for the address LINE names (None: nothing of ours answers there)."""
    address = line.arg.split("://", 1)[-1].rstrip("/")
    if not address.startswith("unix:") and ":" not in address.rsplit("]", 1)[-1]:
        address += ":80"
    return served.get(address)


def _site_link(model: ConfigModel, routes: list[Route], site: Site | None) -> tuple[str, str]:
    """The enabled site holding the server a probe reaches (the first such probe's)."""
    names = (
        site.sites_enabled
        if site is not None
        else tuple(
            p.rsplit("/", 1)[1]
            for p, e in model.files.items()
            if p.startswith("/etc/nginx/sites-enabled/") and e.kind != "dir"
        )
    )
    # A link: what a deploy removes and `ln -s` puts back (a copied file in sites-enabled is another fault).
    links = [n for n in names if (e := model.files.get(f"/etc/nginx/sites-enabled/{n}")) and e.kind == "link"]
    enabled = [(name, resolve(f"/etc/nginx/sites-enabled/{name}", model.files) or "") for name in links]
    for found in routes:
        for name, file in enabled:
            if file and found.server.where.file == file:
                return name, file
    return "", ""  # no probe reaches a server in an enabled site: taking one away would break nothing probed


def _listen_lines(model: ConfigModel, site_file: str) -> tuple[Line, ...]:
    """Every `listen` of port 80 in SITE_FILE, with its address as written (an implied listen has no line)."""
    text = model.contents.get(site_file, "").splitlines()
    found = []
    for server in model.servers:
        for item in server.listens:
            if server.where.file != site_file or item.port != 80 or item.where == server.where:
                continue
            written = _LISTEN.search(text[item.where.line - 1]) if 0 < item.where.line <= len(text) else None
            if written is not None:
                found.append(Line(site_file, item.where.line, written.group(1)))
    return tuple(found)


def _used_ports(model: ConfigModel, site: Site | None) -> set[int]:
    """Every port the site listens on, proxies to, or runs an upstream command on (numbers in its commands)."""
    used = {80, 443} | {p for p in model.ports() if p > 0}
    addresses = [d.args[0] for group in model.upstreams.values() for d in group if d.args]
    for _, location in model.all_locations():
        addresses += [d.args[0] for n in PASSES if (d := location.get(n)) is not None and d.args]
    if site is not None:
        addresses += [address for address, _ in site.settings.upstreams]
        used |= {int(n) for _, command in site.settings.upstreams for n in re.findall(r"\b(\d{2,5})\b", command)}
    for address in addresses:
        found = re.search(r":(\d{1,5})(?:/|$)", address.split("://", 1)[-1])
        used.add(int(found.group(1)) if found else 80)
    return used


def free_port(used: set[int], start: int = FIRST_FREE) -> int:
    port = start
    while port in used or port > 65535:
        port = port + 1 if port < 65535 else 1025
    return port


def _exists(model: ConfigModel, content: dict[str, Path]) -> Exists:
    """What will exist in the server: the team's content folders as they are here, and the pages harness
    generates where the configuration names a root nobody provided (harness.site_lay.lay: each root or alias with
    its first index file, and the server's error pages)."""
    generated: dict[str, set[str]] = {}
    for server in model.servers:
        for location in (None, *server.locations):
            alias = location.get("alias") if location is not None else None
            roots = effective(server, location, "root", model)
            base = alias.args[0] if alias is not None and alias.args else roots[0] if roots else None
            if not base or "$" in base or any(base == g or base.startswith(g + "/") for g in content):
                continue
            index = (effective(server, location, "index", model) or ("index.html",))[0]
            generated.setdefault(base.rstrip("/") or "/", set()).add(index if "$" not in index else "index.html")
            for page in (d for d in server.directives if d.name == "error_page" and d.args):
                if location is None and page.args[-1].startswith("/") and "$" not in page.args[-1]:
                    folder, name = posixpath.split(base.rstrip("/") + page.args[-1])
                    generated.setdefault(folder, set()).add(name)

    def exists(path: str, folder: bool) -> bool:
        path = posixpath.normpath(path)
        for root, local in content.items():
            if path == root.rstrip("/") or path.startswith(root.rstrip("/") + "/"):
                here = local / path[len(root.rstrip("/")) :].lstrip("/")
                return here.is_dir() if folder else here.is_file()
        if folder:
            return path in generated or any(g.startswith(path + "/") for g in generated)
        parent, name = posixpath.split(path)
        return name in generated.get(parent, set())

    return exists


def missing(needs: tuple[str, ...], site: Site | None) -> str:
    """Why a scenario needing NEEDS cannot apply to SITE ("" when it can)."""
    if site is None:
        return ""
    choice = choose(site)
    model = site.model
    lacking = []
    for need in needs:
        ok = {
            "site-link": bool(choice.site_name),
            "root": bool(choice.root) and choice.root not in ("", "/"),
            "root-line": choice.root_line is not None and choice.root not in ("", "/"),
            "static-index": choice.static_index,
            "upstream": bool(choice.upstream_lines),
            "conf-d": any(i.pattern.rstrip("/").endswith("conf.d/*.conf") for i in model.includes),
            "sites-include": choice.sites_include is not None,
            "port-80": bool(model.servers_on(80)),
            "server-name": bool(choice.site_file) and _has(site, choice.site_file, "server_name"),
            "listen-80": bool(choice.listen_lines),
            "worker-connections": bool(choice.worker_connections_file),
            "unlimited-page": not rate_limited_page(model),
            "log-dir": logs_in_var_log(model),
            "test-server": False,
        }.get(need, False)
        if not ok:
            lacking.append(NEEDS.get(need, need))
    if "test-server" in needs:
        return "it drives harness's own test server (its app, releases and deploy tools), not a team's site"
    if not lacking:
        return ""
    probes = ", ".join(p.label() for p in probes_for(site)[:4])
    return (
        f"it needs {' and '.join(lacking)}; this configuration has none that a probe's request reaches "
        f"(probes: {probes or 'none'})"
    )


def logs_in_var_log(model: ConfigModel) -> bool:
    """Whether nginx cannot start without /var/log/nginx: a log there, or no error_log (Debian's built-in one)."""
    logs = [d for d in model.main if d.name in ("error_log", "access_log") and d.args]
    logs += [d for s in model.servers for d in s.directives if d.name in ("error_log", "access_log") and d.args]
    logs += [d for _, loc in model.all_locations() for d in loc.directives if d.name in ("error_log", "access_log")]
    if not any(d.name == "error_log" for d in model.main):
        return True
    return any(d.args and d.args[0].startswith("/var/log/nginx/") for d in logs)


def rate_limited_page(model: ConfigModel) -> bool:
    """Whether every plain-HTTP page a load burst could hit is under the site's own limit_req / limit_conn: a burst
    from one client is turned away there by design, and cannot tell a load fault from the limit."""
    from harness.footprint import limits_for
    from harness.site import derive_probes

    pages = [p for p in derive_probes(model) if p.scheme == "http" and not p.closed]
    return bool(pages) and all(limits_for(model, p.host, p.path, 80) for p in pages)


def _has(site: Site, path: str, directive: str) -> bool:
    return any(d.name == directive for s in site.model.servers if s.where.file == path for d in s.directives)


def parent_of(root: str) -> str:
    parent = posixpath.dirname(root.rstrip("/"))
    return parent if parent not in ("", "/") else ""


def live_model(target: Server) -> ConfigModel:
    """The configuration the server runs now, read from it (the test server has no tree here)."""
    import base64

    from harness.confmodel import parse_tree

    read = target.exec(["sh", "-c", "tar -C / -cf - etc/nginx 2>/dev/null | base64 | tr -d '\\n'"])
    try:
        return parse_tree(base64.b64decode(read.stdout.strip(), validate=False))
    except ValueError:
        return parse_tree(b"")


def bound_ports(target: Server) -> set[int]:
    """The TCP ports something listens on inside TARGET now."""
    listed = target.exec(["ss", "-ltnH"]).stdout
    ports = set()
    for line in listed.splitlines():
        fields_ = line.split()
        port = fields_[3].rpartition(":")[2] if len(fields_) > 3 else ""
        if port.isdigit():
            ports.add(int(port))
    return ports
