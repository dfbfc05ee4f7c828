"""What a scenario breaks on this server: chosen from the site's parsed configuration, or the test server's own.

A scenario declares what it needs (`needs = ("site-link", "root")`); harness
checks the site has it before any target starts, and a scenario reads its
choice from `target.choice` instead of hard-coding the test server's paths:
the enabled site that serves a probe, a root a probe reads, an upstream a
probe uses, the file holding a directive.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from harness.confmodel import ConfigModel, Server, resolve
from harness.inside import effective, index_names, upstream_of
from harness.site import Site, Upstream

# What a scenario may need, and how to say that a site lacks it.
NEEDS = {
    "site-link": "a site enabled by a link in sites-enabled/",
    "root": "a static root that a probe reads",
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
}


@dataclass(frozen=True)
class Choice:
    site_name: str  # the link's name in sites-enabled
    site_file: str  # the file it points at (sites-available/NAME)
    root: str  # a static root a probe reads
    index: str  # its first index file
    static_index: bool  # nginx itself reads that index page (a PHP index goes to FastCGI, which nginx never reads)
    upstream_host: str
    upstream_port: int
    upstream_file: str  # the file with the proxy line
    upstream_service: str  # the init script that runs the upstream
    nginx_conf: str
    worker_connections_file: str
    test_server: bool


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
)


def _probed(server: Server) -> bool:
    return any(item.port in (80, 443) for item in server.listens)


def choose(site: Site | None) -> Choice:
    """The choice on SITE (the test server's when None); a need the site lacks leaves its field empty."""
    if site is None:
        return TEST_SERVER
    model = site.model
    enabled = [(name, resolve(f"/etc/nginx/sites-enabled/{name}", model.files) or "") for name in site.sites_enabled]
    served = [(n, f) for n, f in enabled if any(_probed(s) and s.where.file == f for s in model.servers)]
    site_name, site_file = (served or enabled or [("", "")])[0]
    root, index, static = _root(model)
    upstream, upstream_file = _upstream(site)
    conf = model.worker_connections
    return Choice(
        site_name,
        site_file,
        root,
        index,
        static,
        upstream.host if upstream else "",
        upstream.port if upstream else 0,
        upstream_file,
        upstream.service if upstream else "",
        "/etc/nginx/nginx.conf",
        conf.where.file if conf is not None else "",
        False,
    )


def _root(model: ConfigModel) -> tuple[str, str, bool]:
    from harness.trace import choose_location

    for server in model.servers:
        if not _probed(server):
            continue
        location = choose_location(server, "/")
        if location is not None and (
            location.get("return") or any(location.get(n) for n in ("proxy_pass", "fastcgi_pass"))
        ):
            continue
        if server.get("return") is not None:
            continue
        roots = effective(server, location, "root", model)
        if roots and "$" not in roots[0]:
            index = index_names(server, location, model)[0]
            handler = choose_location(server, f"/{index}")
            static = handler is None or not any(handler.get(n) for n in ("proxy_pass", "fastcgi_pass", "uwsgi_pass"))
            return roots[0].rstrip("/"), index, static
    return "", "", False


def _upstream(site: Site) -> tuple[Upstream | None, str]:
    found = {u.port: u for u in site.upstreams() if u.port and u.protocol == "http"}
    for server in site.model.servers:
        if not _probed(server):
            continue
        for location in server.locations:
            url = upstream_of(location, site.model)
            if url is None or url.startswith("unix:"):
                continue
            port = int(url.rsplit(":", 1)[1].rstrip("/")) if url.rsplit(":", 1)[1].rstrip("/").isdigit() else 80
            if port in found:
                directive = next(d for n in ("proxy_pass", "fastcgi_pass") if (d := location.get(n)))
                return found[port], directive.where.file
    return None, ""


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
            "static-index": choice.static_index,
            "upstream": bool(choice.upstream_port),
            "conf-d": any(i.pattern.rstrip("/").endswith("conf.d/*.conf") for i in model.includes),
            "sites-include": any(
                "sites-enabled" in i.pattern and i.where.file == "/etc/nginx/nginx.conf" for i in model.includes
            ),
            "port-80": bool(model.servers_on(80)),
            "server-name": bool(choice.site_file) and _has(site, choice.site_file, "server_name"),
            "listen-80": bool(choice.site_file)
            and any(item.port == 80 for s in model.servers if s.where.file == choice.site_file for item in s.listens),
            "worker-connections": bool(choice.worker_connections_file),
            "unlimited-page": not rate_limited_page(model),
            "test-server": False,
        }.get(need, False)
        if not ok:
            lacking.append(NEEDS.get(need, need))
    if "test-server" in needs:
        return "it drives harness's own test server (its app, releases and deploy tools), not a team's site"
    return f"it needs {' and '.join(lacking)}; this configuration has none" if lacking else ""


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
