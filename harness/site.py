"""A team's own nginx: a configuration tree as it lies under /etc/nginx, laid into a fresh target.

`--site DIR` names the tree: `nginx.conf` (optional: the distribution's is
kept), `sites-available/` with `sites-enabled/` links and/or `conf.d/`, and
whatever they include. An optional `harness-site.toml` in DIR adds probes,
content and upstream commands; it is validated before anything starts.

Laying the tree (one upload, one script): the test server's own site and app
make way, the tree goes in, roots the configuration names but nobody
provided get a generated page, missing certificates get a self-signed pair,
every upstream inside the server gets a stub that answers there (or the
team's own command) under an init script of its own, and `nginx -t` must
pass before nginx restarts with it.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import tarfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.confmodel import ConfigModel, Listen, Location, Server, parse_tree
from harness.errors import InvalidInput

SETTINGS = "harness-site.toml"
DATA = Path(__file__).parent / "sitedata"
LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"}
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,250}[A-Za-z0-9])?")
_PATH = re.compile(r"/[A-Za-z0-9._/@+-]*")
STUB_MARKER = "harness-stub"
PAGE_MARKER = "harness-site-page"


@dataclass(frozen=True)
class ProbeSpec:
    """One request a probe makes, and what the healthy server answers (None: recorded at the steady state)."""

    path: str = "/"
    host: str = ""
    scheme: str = "http"
    status: int | None = None
    body: str | None = None  # text the body contains
    body_regex: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    closed: bool = False  # `return 444`: the healthy answer is a closed connection
    why: str = ""  # where it comes from (file:line, or the settings file)

    def label(self) -> str:
        return f"{self.scheme}://{self.host or '(default)'}{self.path}"


@dataclass(frozen=True)
class SiteSettings:
    probes: tuple[ProbeSpec, ...] = ()
    replace_probes: bool = False
    content: tuple[tuple[str, Path], ...] = ()  # (root in the server, folder here)
    upstreams: tuple[tuple[str, str], ...] = ()  # ("host:port", command run as that upstream)


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int  # 0 for a unix socket
    where: str  # the proxy line that names it
    command: str = ""  # the team's own, from the settings; "" for harness's stub
    protocol: str = "http"  # or "fastcgi"
    socket: str = ""  # a unix socket's path

    @property
    def key(self) -> str:
        """The service's suffix: the port, or the socket's name."""
        return str(self.port) if not self.socket else re.sub(r"[^A-Za-z0-9]+", "-", self.socket).strip("-")

    @property
    def service(self) -> str:
        return f"harness-upstream-{self.key}"

    @property
    def address(self) -> str:
        return f"unix:{self.socket}" if self.socket else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Site:
    folder: Path
    tree: bytes  # the tree as a tar of etc/nginx/...
    settings: SiteSettings
    model: ConfigModel  # parsed here, with the distribution's nginx.conf where the tree has none
    has_nginx_conf: bool
    sites_enabled: tuple[str, ...] = field(default=())  # names of links in sites-enabled

    @property
    def name(self) -> str:
        return self.folder.name

    def upstreams(self) -> list[Upstream]:
        commands = dict(self.settings.upstreams)
        found: dict[str, Upstream] = {}
        for _, location in self.model.all_locations():
            for upstream in _proxied(self.model, location):
                local = upstream.socket or upstream.host in LOCAL or not _is_ip(upstream.host)
                if local and upstream.key not in found:
                    command = commands.get(upstream.address, "")
                    found[upstream.key] = dataclasses.replace(upstream, command=command)
        return list(found.values())

    def tls(self) -> bool:
        return any(item.port == 443 or item.ssl for s in self.model.servers for item in s.listens)


def _is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+|\[?[0-9a-fA-F:]+\]?", host))


def _proxied(model: ConfigModel, location: Location) -> list[Upstream]:
    """The upstreams a location sends requests to (proxy_pass over HTTP, fastcgi_pass), with the line naming them."""
    found = []
    for name, protocol in (("proxy_pass", "http"), ("fastcgi_pass", "fastcgi")):
        directive = location.get(name)
        if directive is None or not directive.args or "$" in directive.args[0]:
            continue
        target = directive.args[0]
        if target.startswith("https://"):
            continue  # a TLS upstream would need a certificate it trusts: left alone
        rest = target.split("://", 1)[-1].split("/", 1)[0]
        group = model.upstreams.get(rest)
        addresses = [d.args[0] for d in group if d.args] if group else [target if target.startswith("unix:") else rest]
        for address in addresses:
            where = str(directive.where)
            if address.startswith("unix:"):
                path = address[len("unix:") :].split(":", 1)[0]
                if _PATH.fullmatch(path):  # it becomes an argument in the target's init script: plain paths only
                    found.append(Upstream("", 0, where, protocol=protocol, socket=path))
                continue
            host, _, port = address.rpartition(":")
            if not host:
                host, port = address, "80"
            if port.isdigit() and (_NAME.fullmatch(host.strip("[]")) or host.strip("[]") in LOCAL):
                found.append(Upstream(host.strip("[]"), int(port), where, protocol=protocol))
    return found


# -- loading and validating -----------------------------------------------------------------------


def _line_of(text: str, key: str) -> int:
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=", re.MULTILINE)
    found = pattern.search(text)
    return text[: found.start()].count("\n") + 1 if found else 1


_PROBE_KEYS = {"path", "host", "scheme", "status", "body", "body_regex", "headers", "closed"}
_TOP_KEYS = {"probes", "probe", "content", "upstreams"}


def load_settings(folder: Path) -> SiteSettings:
    """DIR/harness-site.toml, or no settings; an error names the file, the line and the bad key."""
    path = folder / SETTINGS
    if not path.exists():
        return SiteSettings()
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: {exc}; see docs/your-nginx.md") from None

    def bad(key: str, why: str) -> InvalidInput:
        return InvalidInput(f"{path}:{_line_of(text, key)}: {why}")

    for key in data:
        if key not in _TOP_KEYS:
            return _raise(bad(key, f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})"))
    mode = data.get("probes", "add")
    if mode not in ("add", "replace"):
        raise bad("probes", f'probes = {mode!r}: use "add" or "replace"')
    probes = []
    for number, entry in enumerate(data.get("probe", []), 1):
        if not isinstance(entry, dict):
            raise bad("probe", "[[probe]] entries are tables")
        for key in entry:
            if key not in _PROBE_KEYS:
                raise bad(key, f"unknown key {key!r} in probe {number} (known: {', '.join(sorted(_PROBE_KEYS))})")
        probe_path = entry.get("path", "/")
        if not isinstance(probe_path, str) or not probe_path.startswith("/"):
            raise bad("path", f"probe {number}: path must start with '/'")
        scheme = entry.get("scheme", "http")
        if scheme not in ("http", "https"):
            raise bad("scheme", f"probe {number}: scheme must be http or https")
        status = entry.get("status")
        if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
            raise bad("status", f"probe {number}: status must be an HTTP status code")
        if entry.get("body_regex") is not None:
            try:
                re.compile(entry["body_regex"])
            except re.error as exc:
                raise bad("body_regex", f"probe {number}: body_regex does not compile: {exc}") from None
        headers = entry.get("headers", {})
        if not isinstance(headers, dict):
            raise bad("headers", f"probe {number}: headers is a table of name = value")
        probes.append(
            ProbeSpec(
                probe_path,
                str(entry.get("host", "")),
                scheme,
                status,
                entry.get("body"),
                entry.get("body_regex"),
                tuple((str(k), str(v)) for k, v in headers.items()),
                bool(entry.get("closed", False)),
                f"{path.name}, probe {number}",
            )
        )
    content = []
    for root, local in (data.get("content") or {}).items():
        if not _PATH.fullmatch(root):
            raise bad(root, f"content: {root!r} is not an absolute path in the server")
        source = (folder / str(local)).resolve()
        if not source.is_dir():
            raise bad(root, f"content: {local!r} is not a folder under {folder}")
        content.append((root, source))
    upstreams = []
    for address, command in (data.get("upstreams") or {}).items():
        host, _, port = str(address).rpartition(":")
        if not (_NAME.fullmatch(host.strip("[]")) or host in LOCAL) or not port.isdigit():
            raise bad(address, f"upstreams: {address!r} is not host:port")
        if not isinstance(command, str) or not command.strip():
            raise bad(address, f"upstreams: the command for {address} must be a non-empty string")
        upstreams.append((str(address), command))
    return SiteSettings(tuple(probes), mode == "replace", tuple(content), tuple(upstreams))


def _raise(error: InvalidInput) -> SiteSettings:
    raise error


def load_site(folder: str | Path) -> Site:
    """Read DIR; bad input is one line naming what to fix."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInput(
            f"--site {str(folder)!r} is not a folder; give an nginx configuration tree (see `harness init`)"
        )
    settings = load_settings(root)
    skip = {source for _, source in settings.content}
    tree, names, has_conf = _tar(root, skip)
    if not names:
        raise InvalidInput(f"--site {root}: no configuration files in it (nginx.conf, sites-available/, conf.d/)")
    model = parse_tree(_with_distribution(tree, has_conf))
    enabled = tuple(sorted(n.split("/")[-1] for n in names if n.startswith("etc/nginx/sites-enabled/")))
    return Site(root, tree, settings, model, has_conf, enabled)


def _tar(root: Path, skip: set[Path]) -> tuple[bytes, list[str], bool]:
    buffer = io.BytesIO()
    names: list[str] = []
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for directory, folders, files in os.walk(root):
            here = Path(directory)
            folders[:] = sorted(f for f in folders if (here / f).resolve() not in skip and not f.startswith("."))
            for name in sorted([*folders, *files]):
                local = here / name
                if (name == SETTINGS and here == root) or name.startswith("."):
                    continue
                relative = local.relative_to(root).as_posix()
                arcname = f"etc/nginx/{relative}"
                info = archive.gettarinfo(str(local), arcname)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if info.isfile():
                    with open(local, "rb") as handle:
                        archive.addfile(info, handle)
                else:
                    archive.addfile(info)
                names.append(arcname)
    return buffer.getvalue(), names, (root / "nginx.conf").is_file()


def _with_distribution(tree: bytes, has_conf: bool) -> bytes:
    """The tree as the target will hold it: with the distribution's nginx.conf and mime.types where it has none."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        with tarfile.open(fileobj=io.BytesIO(tree)) as given:
            present = set(given.getnames())
            for member in given.getmembers():
                archive.addfile(member, given.extractfile(member) if member.isfile() else None)
        for name in ("nginx.conf", "mime.types"):
            if f"etc/nginx/{name}" in present or (name == "nginx.conf" and has_conf):
                continue
            data = (DATA / name).read_bytes()
            info = tarfile.TarInfo(f"etc/nginx/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# -- probes the configuration implies ------------------------------------------------------------------


def _names(server: Server) -> list[str]:
    plain = [n for n in server.names if n and n != "_" and "*" not in n and not n.startswith(("~", "."))]
    return plain[:3]


def reachable(listen: Listen) -> bool:
    """Whether a client outside the server can reach this listen: not one bound to loopback only (a status page
    on 127.0.0.1:80 is for the host itself, and nothing from outside ever arrives there)."""
    address = listen.address.strip("[]").lower()
    return not (address == "localhost" or address == "::1" or address.startswith("127."))


def derive_probes(model: ConfigModel) -> list[ProbeSpec]:
    """One request per server name on ports 80 and 443 that a client outside can reach: `/` and each location that
    proxies, with what it implies."""
    probes: list[ProbeSpec] = []
    for server in model.servers:
        for listen in server.listens:
            if listen.port not in (80, 443) or not reachable(listen):
                continue
            scheme = "https" if listen.port == 443 or listen.ssl else "http"
            outside = [s for s in model.servers_on(listen.port) if any(reachable(i) for i in s.listens)]
            hosts = _names(server) or ([""] if server.default_on(listen.port) or len(outside) == 1 else [])
            for host in hosts:
                paths = [
                    "/",
                    *(
                        loc.path
                        for loc in server.locations
                        if loc.modifier in ("", "^~") and _proxies(loc) and loc.path != "/"
                    ),
                ]
                for path in paths:
                    probe = _implied(model, server, path, host, scheme)
                    if probe not in probes:
                        probes.append(probe)
            break  # one probe set per server and scheme is enough; the second listen (IPv6) is the same
    return probes


def _proxies(location: Location) -> bool:
    return any(location.get(n) for n in ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "grpc_pass"))


def _implied(model: ConfigModel, server: Server, path: str, host: str, scheme: str) -> ProbeSpec:
    from harness.trace import choose_location

    location = choose_location(server, path)
    returned = (location.get("return") if location is not None else None) or server.get("return")
    where = str(returned.where if returned is not None else (location.where if location else server.where))
    if returned is not None and returned.args and returned.args[0].isdigit():
        code = int(returned.args[0])
        if code == 444:
            return ProbeSpec(path, host, scheme, closed=True, why=where)
        if 300 <= code < 400 and len(returned.args) > 1:
            target = returned.args[1]
            fixed = target.split("$", 1)[0]  # what stays the same whatever the request
            headers = (("Location", fixed),) if fixed else ()
            return ProbeSpec(path, host, scheme, code, headers=headers, why=where)
        return ProbeSpec(path, host, scheme, code, why=where)
    # Roots and upstreams: what the healthy server answers is recorded at the steady state.
    return ProbeSpec(path, host, scheme, why=where)


def probes_for(site: Site) -> list[ProbeSpec]:
    given = list(site.settings.probes)
    if site.settings.replace_probes:
        return given
    derived = [p for p in derive_probes(site.model) if not any((p.path, p.host) == (g.path, g.host) for g in given)]
    return [*derived, *given]


def probe_plan(site: Site) -> dict[str, Any]:
    """What a drill of SITE probes, before any target starts: each request, what it expects and why, the pace the
    site's own limits allow harness, the servers no outside client reaches, and where load bursts go."""
    from harness.footprint import Pacer

    pacer = Pacer(site.model)
    probes = probes_for(site)
    requests = [(p.host, p.path, 443 if p.scheme == "https" else 80) for p in probes]
    rows = []
    for spec, (host, path, port) in zip(probes, requests, strict=True):
        limits = pacer.limits(host, path, port)
        spaced = max((limit.gap for limit in limits), default=0.0)
        pace = (
            (f"at most one request every {spaced:.2g} s: " if spaced else "within ")
            + "; ".join(limit.describe() for limit in limits)
            if limits
            else "the probe interval (no limit counts it)"
        )
        rows.append({"request": spec.label(), "expects": _expects(spec), "why": spec.why, "pace": pace})
    not_probed = [
        f"{server.label()}: listens only on {', '.join(f'{i.address}:{i.port}' for i in server.listens)}, "
        "which no client outside the server reaches"
        for server in site.model.servers
        if any(i.port in (80, 443) for i in server.listens) and not any(reachable(i) for i in server.listens)
    ]
    cycle = pacer.cycle(requests)
    page = next(
        (
            p
            for p, r in zip(probes, requests, strict=True)
            if p.scheme == "http" and not p.closed and not pacer.limits(*r)
        ),
        None,
    )
    load = (
        f"to {page.label()} (no limit counts it)"
        if page is not None
        else "none: every plain-HTTP page is TLS-only, dropped (444) or under the site's own limits"
    )
    return {
        "folder": str(site.folder),
        "probes": rows,
        "sample_every": f"{cycle:.2g} s at least (the site's limits)" if cycle else "the probe interval",
        "not_probed": not_probed,
        "load": load,
    }


def _expects(spec: ProbeSpec) -> str:
    if spec.closed:
        return "the connection closed without an answer (return 444)"
    said = (
        f"HTTP {spec.status}" if spec.status is not None else "the healthy server's answer, recorded before the drill"
    )
    location = dict(spec.headers).get("Location")
    if location:
        said += f" to {location}…"
    if spec.body:
        said += f" with {spec.body!r}"
    if spec.body_regex:
        said += f" matching {spec.body_regex!r}"
    return said


def describe(site: Site) -> dict[str, Any]:
    return {
        "folder": str(site.folder),
        "servers": [s.label() for s in site.model.servers],
        "probes": [p.label() for p in probes_for(site)],
        "upstreams": [u.address for u in site.upstreams()],
    }
