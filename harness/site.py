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
import functools
import hashlib
import io
import os
import re
import tarfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.confmodel import ConfigModel, Listen, Location, Server, parse_tree, resolve
from harness.errors import InvalidInput

SETTINGS = "harness-site.toml"
DATA = Path(__file__).parent / "sitedata"
DISTRIBUTION = DATA / "etc-nginx"  # what the target's nginx package puts in /etc/nginx: a tree is read over it
STANDINS = DATA / "standins"  # files a tree names outside /etc/nginx, given to the target where it lacks them
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
    protocol: str = "http"  # or "https", "fastcgi"
    socket: str = ""  # a unix socket's path
    group: str = ""  # the `upstream` block it belongs to: its servers' stubs answer alike

    @property
    def name(self) -> str:
        """What its stub says it is: the group, so every server of one upstream block answers the same page."""
        return self.group or self.address

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

    @functools.cached_property
    def digest(self) -> str:
        """What the tree says, not when it was copied: names, modes, link targets and bytes (no mtimes, so a fresh
        clone of the same commit is the same site), plus harness-site.toml, whose probes decide what is measured.
        The results history keys runs by it, so a median is only ever taken over runs of the same configuration."""
        sha = hashlib.sha256()
        with tarfile.open(fileobj=io.BytesIO(self.tree)) as archive:
            for member in archive.getmembers():
                sha.update(f"{member.name}\0{member.type!r}\0{member.mode:o}\0{member.linkname}\0".encode())
                if member.isfile():
                    handle = archive.extractfile(member)
                    sha.update(handle.read() if handle is not None else b"")
        settings = self.folder / SETTINGS
        sha.update(settings.read_bytes() if settings.is_file() else b"")
        return sha.hexdigest()[:16]

    def upstreams(self) -> list[Upstream]:
        commands = dict(self.settings.upstreams)
        found: dict[str, Upstream] = {}
        for _, location in self.model.all_locations():
            for upstream in _proxied(self.model, location):
                local = upstream.socket or upstream.host in LOCAL or not _is_ip(upstream.host)
                itself = upstream.host in LOCAL and upstream.port in self.model.ports()  # nginx answers there
                if local and not itself and upstream.key not in found:
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
            protocol = "https"  # nginx does not verify an upstream's certificate unless told: a self-signed stub does
        rest = target.split("://", 1)[-1].split("/", 1)[0]
        group = model.upstreams.get(rest)
        addresses = [d.args[0] for d in group if d.args] if group else [target if target.startswith("unix:") else rest]
        if target.startswith("http://unix:"):  # proxy_pass http://unix:/path:/uri, a socket spelt as a URL
            addresses = ["unix:" + target[len("http://unix:") :].split(":", 1)[0]]
        for address in addresses:
            where = str(directive.where)
            name = rest if group else ""
            if address.startswith("unix:"):
                path = address[len("unix:") :].split(":", 1)[0]
                if _PATH.fullmatch(path):  # it becomes an argument in the target's init script: plain paths only
                    found.append(Upstream("", 0, where, protocol=protocol, socket=path, group=name))
                continue
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                host, port = address, "443" if protocol == "https" else "80"
            if _NAME.fullmatch(host.strip("[]")) or host.strip("[]") in LOCAL:
                found.append(Upstream(host.strip("[]"), int(port), where, protocol=protocol, group=name))
    return found


# -- loading and validating -----------------------------------------------------------------------


def _line_of(text: str, key: str) -> int:
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=", re.MULTILINE)
    found = pattern.search(text)
    return text[: found.start()].count("\n") + 1 if found else 1


def load_settings(folder: Path) -> SiteSettings:
    """DIR/harness-site.toml, or no settings; an error is one line naming the file, the line and the bad field.

    The format is harness/schemas/site-settings.json: validated there, so the rules live in one place.
    """
    import jsonschema

    from harness import schemas

    path = folder / SETTINGS
    if not path.exists():
        return SiteSettings()
    raw = path.read_bytes()
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"{path}:{line}: byte 0x{raw[exc.start]:02x} is not UTF-8 (TOML files are UTF-8)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: {exc}; see docs/your-nginx.md and docs/site.md") from None
    validator = jsonschema.Draft202012Validator(
        schemas.load("site-settings"), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        key, said = _said(error)
        raise InvalidInput(f"{path}:{_line_of(text, key)}: {said}")
    probes = tuple(
        ProbeSpec(
            entry.get("path", "/"),
            entry.get("host", ""),
            entry.get("scheme", "http"),
            entry.get("status"),
            entry.get("body"),
            entry.get("body_regex"),
            tuple((str(k), str(v)) for k, v in entry.get("headers", {}).items()),
            entry.get("closed", False),
            f"{path.name}, probe {number}",
        )
        for number, entry in enumerate(data.get("probe", []), 1)
    )
    content = []
    for root, local in data.get("content", {}).items():
        source = (folder / local).resolve()
        if not source.is_dir():
            raise InvalidInput(f"{path}:{_line_of(text, root)}: content: {local!r} is not a folder under {folder}")
        content.append((root, source))
    upstreams = tuple(data.get("upstreams", {}).items())
    return SiteSettings(probes, data.get("probes", "add") == "replace", tuple(content), upstreams)


def _said(error: Any) -> tuple[str, str]:
    """(the key to find the line of, one sentence) for a schema error, naming the field as a person wrote it."""
    where = list(error.absolute_path)
    names = [str(p) for p in where if isinstance(p, str)]
    field = ".".join(names) or "the file"
    if where[:1] == ["probe"] and len(where) > 1 and isinstance(where[1], int):
        field = f"probe {where[1] + 1}" + (f": {'.'.join(names[1:])}" if names[1:] else "")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        if known:
            unknown = next(iter(sorted(set(error.instance) - known)))
            inside = f" in {field}" if where else ""
            return unknown, f"unknown key {unknown!r}{inside} (known: {', '.join(sorted(known))})"
    if names[:1] in (["content"], ["upstreams"]) and len(names) > 1:
        field = f"{names[0]}: {names[1]!r}"
    if "propertyNames" in error.absolute_schema_path:
        wanted = "an absolute path in the server" if names[:1] == ["content"] else "host:port"
        return str(error.instance), f"{field}: {error.instance!r} is not {wanted}"
    described = error.schema.get("description")
    if error.validator == "enum":
        choices = " or ".join(repr(c) for c in error.validator_value)
        return names[-1] if names else "", f"{field} = {error.instance!r}: use {choices}"
    if error.validator == "format":
        return names[-1] if names else "", f"{field}: {error.instance!r} does not compile as a regular expression"
    return names[-1] if names else "", f"{field} {described}" if described else f"{field}: {error.message}"


LARGE = 4 << 20  # bytes of configuration from which reading it says so (a blocklist of 70 MB takes a while)


def load_site(folder: str | Path, progress: Callable[[str], None] | None = None) -> Site:
    """Read DIR; bad input is one line naming what to fix. PROGRESS hears of a large tree being read."""
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
    started = time.monotonic()
    large = progress is not None and len(tree) > LARGE
    if large and progress is not None:
        progress(f"reading {len(tree) / 2**20:.0f} MB of nginx configuration from {root}")
    model = parse_tree(_with_distribution(tree, has_conf))
    if large and progress is not None:
        count = len(model.main) + sum(len(s.directives) for s in model.servers)
        count += sum(len(loc.directives) for _, loc in model.all_locations())
        progress(f"read {count} directives in {time.monotonic() - started:.1f} s")
    enabled = tuple(sorted(n.split("/")[-1] for n in names if n.startswith("etc/nginx/sites-enabled/")))
    site = Site(root, tree, settings, model, has_conf, enabled)
    trouble = problems(site)
    if trouble:
        raise InvalidInput(trouble[0])
    return site


def problems(site: Site) -> list[str]:
    """What would stop the tree before any drill, read without a server: `list` says it as the drill would."""
    model, root = site.model, site.folder
    found = []
    for path in model.parsed:
        data = model.raw.get(resolve(path, model.files) or path, b"")
        bad = _binary(data)
        if bad:
            shown = path.replace("/etc/nginx/", f"{root}/", 1) if path.startswith("/etc/nginx/") else path
            found.append(f"--site {root}: {shown} is not a text file ({bad}), yet nginx reads it as configuration")
    for error in model.errors:
        if "cannot be opened" in error:
            continue  # nginx.conf itself: the distribution's stands in
        found.append(f"--site {root} does not pass nginx -t (read before starting it): {_in_folder(error, root)}")
    if not model.ports() & {80, 443}:
        configured = ", ".join(map(str, sorted(model.ports() - {-1}))) or "nothing"
        said = f"serves neither port 80 nor 443 (it listens on {configured}); harness probes 80 and 443"
        found.append(f"--site {root} {said}")
    for upstream in site.upstreams():
        if upstream.port in model.ports() and not upstream.socket and upstream.host not in ("127.0.0.1", "localhost"):
            found.append(
                f"--site {root}: upstream {upstream.host}:{upstream.port} ({upstream.where}) shares port "
                f"{upstream.port} with nginx itself in the target, so no stand-in can answer there "
                "(a request would loop back into nginx)"
            )
    return found


def _binary(data: bytes) -> str:
    """Why DATA is not configuration text ("" when it is): said without printing the bytes themselves."""
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return f"byte 0x{data[exc.start]:02x} on line {line} is not UTF-8"
    control = re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    if control:
        return f"control byte 0x{ord(control.group()):02x} on line {text[: control.start()].count(chr(10)) + 1}"
    return ""


def _in_folder(said: str, root: Path) -> str:
    return re.sub(r"/etc/nginx/([^\s:\"]+)", lambda m: f"/etc/nginx/{m.group(1)} ({root / m.group(1)})", said, count=1)


# What a checkout or an editor leaves beside a configuration, never part of it. Other dot files are the team's
# (/etc/nginx/.htpasswd is where auth_basic_user_file often points).
_JUNK = {".git", ".svn", ".hg", ".DS_Store", ".gitignore", ".gitattributes", ".idea", ".vscode"}


def _junk(name: str) -> bool:
    return name in _JUNK or name.endswith((".swp", ".swo", "~")) or name.startswith(".#")


def _tar(root: Path, skip: set[Path]) -> tuple[bytes, list[str], bool]:
    buffer = io.BytesIO()
    names: list[str] = []
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for directory, folders, files in os.walk(root):
            here = Path(directory)
            folders[:] = sorted(f for f in folders if (here / f).resolve() not in skip and not _junk(f))
            for name in sorted([*folders, *files]):
                local = here / name
                if (name == SETTINGS and here == root) or _junk(name):
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
    """The tree as the target will hold it: over the distribution's files (nginx.conf only where it has none)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        with tarfile.open(fileobj=io.BytesIO(tree)) as given:
            present = set(given.getnames())
            for member in given.getmembers():
                archive.addfile(member, given.extractfile(member) if member.isfile() else None)
        for path in sorted(DISTRIBUTION.rglob("*")):
            name = f"etc/nginx/{path.relative_to(DISTRIBUTION).as_posix()}"
            if not path.is_file() or name in present or (name == "etc/nginx/nginx.conf" and has_conf):
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
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
    from harness.semantics import choose_location

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
