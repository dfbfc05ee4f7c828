"""Follow a request the way nginx would, and report the first step that breaks.

socket (is anything listening, is it nginx) -> server block (listen port,
server_name, default_server) -> location (nginx's matching order) -> what the
location does: a `return`, then the access rules (allow/deny, auth_basic),
then a file (root or alias, try_files, index, and the worker user's
permission on every path component) or an upstream (does it answer inside the
server, does anything listen on its port). A trace is evidence, not a
verdict: the cause units read it.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from harness.confmodel import Conditional, ConfigModel, Directive, Location, Server
from harness.facts import Facts, nginx_message
from harness.inside import Fetch, Inside, PathStat, components
from harness.semantics import (
    Request,
    choose_location,
    choose_server,
    configured_return,
    effective,
    file_candidates,
    filesystem_path,
    innermost,
    local_url,
    script_from_root,
    tested_path,
    try_files_fallback,
    upstream_members,
    upstream_of,
)
from harness.server_paths import DEFAULT_ROOT


@dataclass(frozen=True)
class Step:
    what: str  # socket, server, location, return, access, file, upstream, outside, answer
    ok: bool
    detail: str
    where: str = ""  # file:line of the configuration that decides this step
    subject: str = ""  # what broke, as data: the path, upstream URL or port (remedies act on it)
    kind: str = ""  # how it broke, as data: missing, unreadable, unenterable, absent, refused, error, ...

    def line(self) -> str:
        mark = "ok" if self.ok else "BROKEN"
        return f"{self.what} {mark}: {self.detail}" + (f" ({self.where})" if self.where else "")


@dataclass(frozen=True)
class Trace:
    request: Request
    steps: tuple[Step, ...]

    @property
    def broken(self) -> Step | None:
        return next((step for step in self.steps if not step.ok), None)

    def label(self) -> str:
        host = f"{self.request.host}" if self.request.host else ""
        return f"GET {host}{self.request.path} on port {self.request.port}"

    def summary(self) -> str:
        broken = self.broken
        if broken is None:
            return f"{self.label()}: every step holds"
        return f"{self.label()} breaks at the {broken.what}: {broken.detail}" + (
            f" ({broken.where})" if broken.where else ""
        )


# -- nginx's choices ----------------------------------------------------------------------------------


# -- the trace ---------------------------------------------------------------------------------------


def trace(facts: Facts, inside: Inside, request: Request) -> Trace:
    model = facts.config
    steps: list[Step] = [_socket(facts, request)]
    server = choose_server(model, request)
    if server is None:
        steps.append(_no_server(model, request))
        return Trace(request, tuple(steps))
    how = "default_server" if server.default_on(request.port) else "server_name match or first on the port"
    names = " ".join(server.names) or "(no server_name)"
    steps.append(Step("server", True, f"{names} answers ({how})", str(server.where)))
    location = choose_location(server, request.path)
    if location is not None:
        steps.append(Step("location", True, f"location {location.modifier} {location.path}".replace("  ", " "),
                          str(location.where)))  # fmt: skip
    steps += _handler(model, facts, inside, server, location, request)
    fetched = _fetched(model, inside, request)
    code = int(fetched.code) if fetched is not None and fetched.code.isdigit() else 0
    # Only a connection that failed outside while nginx answers inside points at the way in; wrong content does not.
    if 0 < code < 400 and not request.under_load and request.symptom in ("", "refused", "timeout"):
        steps.append(Step("outside", False, f"inside the server nginx answers {code}; the way in from outside "
                          "is what fails (firewall, published port)"))  # fmt: skip
    elif code >= 400 and all(step.ok for step in steps):
        conditional = _conditional_return(server, location, code)
        if conditional is not None:
            block, returned = conditional
            root = effective(server, location, "root", model)
            tested = tested_path(block.condition, root[0] if root else None)
            found = inside.stat(tested) if tested is not None else None
            holds = f"{tested} {'exists' if found.exists else 'does not exist'}" if found else "the condition holds"
            steps.append(Step("return", False, f"{block.label()} at {block.where} returns {code}, as nginx answers "
                              f"inside too ({holds})", str(returned.where), subject=tested or "",
                              kind="conditional"))  # fmt: skip
        else:
            where = str(location.where) if location is not None else str(server.where)
            steps.append(_answer(inside, request, code, where))
    return Trace(request, tuple(steps))


# nginx's words in error.log for why it failed a request, and what the trace makes of them.
_ERRNO_KINDS = {"(24: Too many open files)": "too-many-files", "(13: Permission denied)": "permission",
                "(2: No such file or directory)": "missing"}  # fmt: skip


def _answer(inside: Inside, request: Request, code: int, where: str) -> Step:
    """nginx fails the request inside too though the configuration's steps hold (a regex location, an internal
    redirect, a limit): its error log, written as it answered, says why when anything can."""
    said = inside.said_about(request)
    if said is None:
        return Step("answer", False, f"nginx answers {code} inside too, though every step above holds: "
                    "look at this block's access rules, auth, error_page and rewrites", where)  # fmt: skip
    words = nginx_message(said)[:240]
    if "access forbidden by rule" in said:
        return Step("access", False, f"nginx refuses it by an access rule; its error log: {words}", where,
                    kind="denied")  # fmt: skip
    kind = next((k for errno, k in _ERRNO_KINDS.items() if errno in said), "error")
    return Step("answer", False, f"nginx answers {code} inside too; its error log says why: {words}", where,
                kind=kind)  # fmt: skip


def _conditional_return(server: Server, location: Location | None, code: int) -> tuple[Conditional, Directive] | None:
    """An `if` block on the request's path (its location's, then its server's) that returns exactly CODE."""
    blocks = (*(location.conditionals if location is not None else ()), *server.conditionals)
    for block in blocks:
        returned = block.get("return")
        if returned is not None and returned.args and returned.args[0] == str(code):
            return block, returned
    return None


def _socket(facts: Facts, request: Request) -> Step:
    listeners = facts.listeners_on(request.port)
    if not listeners:
        return Step("socket", False, f"nothing listens on port {request.port} inside the server")
    owners = sorted({name for item in listeners for name in item.processes})
    master = facts.nginx_master
    if "nginx" not in owners and owners:
        return Step("socket", False, f"port {request.port} is held by {', '.join(owners)}, not nginx")
    if master is not None and master.stopped:
        return Step("socket", False, f"nginx holds port {request.port} but its master is stopped (state T)")
    workers = [p for p in facts.nginx_processes if "worker process" in p.args]
    if workers and all(w.stopped for w in workers):
        return Step("socket", False, f"nginx holds port {request.port} but every worker is stopped (state T): "
                    "connections are accepted and never answered")  # fmt: skip
    unreachable = [why for item in listeners if (why := _unreachable(item.address))]
    if request.symptom in ("refused", "timeout") and len(unreachable) == len(listeners):
        port = request.port
        where = next((str(i.where) for s in facts.config.servers for i in s.listens if i.port == port), "")
        shown = ", ".join(f"{item.address}:{port}" for item in listeners)
        return Step("socket", False, f"nginx listens on port {port} only at {shown}: {unreachable[0]}", where,
                    subject=str(port), kind="unreachable-address")  # fmt: skip
    return Step("socket", True, f"nginx listens on port {request.port}")


def _unreachable(address: str) -> str:
    """Why a client from outside cannot connect to a socket bound to ADDRESS ("" when it can)."""
    bare = address.strip("[]").split("%")[0]
    if bare in ("", "*", "0.0.0.0"):
        return ""
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return ""  # a name: not judged
    if ip.is_loopback:
        return "a loopback address, which only the server itself can reach"
    if ip.version == 6:
        # ss shows a dual-stack socket as `*`; `[::]` is one nginx bound with ipv6only=on, its default.
        return "IPv6 only (nginx's default ipv6only=on), so IPv4 clients, such as a published port's proxy, are refused"
    return ""


def _no_server(model: ConfigModel, request: Request) -> Step:
    if not model.servers:
        if not model.parsed:
            return Step("server", False, "the configuration could not be read")
        empty = [i for i in model.includes if i.collected and not i.matched]
        said = "; ".join(f"{i.where} includes {i.pattern}, which matches no file" for i in empty)
        return Step("server", False, "no server block is configured at all" + (f" ({said})" if said else ""))
    elsewhere = [f"{s.label()} listens on {', '.join(str(p) for p in sorted({i.port for i in s.listens}))}"
                 for s in model.servers]  # fmt: skip
    return Step("server", False, f"no server block listens on port {request.port}: " + "; ".join(elsewhere[:4]))


def _handler(
    model: ConfigModel,
    facts: Facts,
    inside: Inside,
    server: Server,
    location: Location | None,
    request: Request,
    depth: int = 0,
) -> list[Step]:
    returned = configured_return(server, location)
    if returned is not None and returned.args:
        code = returned.args[0]
        # A redirect is fine, unless it is what the failing request got instead of the page.
        ok = code.isdigit() and (int(code) < 300 or (int(code) < 400 and request.symptom != "not-our-server"))
        return [Step("return", ok, f"the configuration returns {' '.join(returned.args)}", str(returned.where))]
    rewritten = _conditional_rewrite(model, inside, server, location, request, depth)
    if rewritten is not None:
        step, moved, handler = rewritten
        if not step.ok or moved is None:
            return [step]
        return [step, *_handler(model, facts, inside, server, handler, moved, depth + 1)]
    access = _access(model, server, location, facts.outside_client if request.symptom else None)
    if access is not None:
        return [access]
    if location is not None:
        upstream = upstream_of(location, model)
        if upstream is not None:
            tried = location.get("try_files")
            if tried is not None and tried.args and tried.args[-1].startswith("="):
                # nginx looks for the file before it passes the request on (PHP's `try_files $fastcgi_script_name
                # =404`): with none there it answers the code itself, and the app is never asked.
                script = _file(model, inside, server, location, request)
                if not script.ok:
                    said = f"{script.detail}, so try_files answers {tried.args[-1]} before the app is asked"
                    return [replace(script, detail=said)]
            passed = _upstream(facts, inside, location, upstream)
            fastcgi = location.get("fastcgi_pass")
            if passed.ok and fastcgi is not None and script_from_root(model, server, location):
                # The app runs the script it finds under the root (PHP-FPM: 404 "File not found." without it).
                script = _file(model, inside, server, location, request)
                if script.kind == "missing-root":
                    said = f"{script.detail}, and fastcgi_pass {' '.join(fastcgi.args)} runs its scripts from it"
                    return [passed, replace(script, detail=said)]
            return [passed]
        if any(location.get(n) for n in ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "grpc_pass")):
            return [Step("upstream", True, "proxied to an address made of variables (not traced)")]
    found = _file(model, inside, server, location, request)
    fallback = try_files_fallback(server, location, request.path)
    if fallback is None or (found.ok and found.subject) or depth > 1:
        return [found]
    # try_files: when none of its files is there, its last argument handles the request (a named location, or
    # an internal redirect to a URI), and that handler is what answers: an app, say, not a missing file.
    directive, handler, said = fallback
    if not said.startswith("@") and found.kind in ("unreadable", "unenterable"):
        return [found]  # a redirect to a URI (/index.php) is served from the same tree, which the worker cannot reach
    if handler is None:
        return [Step("location", False, f"try_files falls back to {said}, which no location matches",
                     str(directive.where))]  # fmt: skip
    moved = Request(said if said.startswith("/") else request.path, request.host, request.port,
                    request.under_load, request.symptom)  # fmt: skip
    label = f"location {handler.modifier} {handler.path}".replace("  ", " ").replace("@ @", "@")
    step = Step("location", True, f"try_files falls back to {said} ({label}): {found.detail}", str(directive.where))
    return [step, *_handler(model, facts, inside, server, handler, moved, depth + 1)]


_FILE_TESTS = {"-f": "regular", "-d": "directory", "-e": ""}


def _exists(inside: Inside, path: str, kind: str) -> bool | None:
    """Whether PATH is there (as KIND: "regular", "directory", or "" for anything), from what the gathering saw;
    None when it did not look. A folder above it seen missing means it is missing too."""
    stat = inside.stat(path)
    if stat is not None:
        return stat.exists and (not kind or stat.kind.startswith(kind))
    parts = path.rstrip("/").split("/")
    for end in range(len(parts) - 1, 1, -1):
        above = inside.stat("/".join(parts[:end]))
        if above is not None:
            return False if not above.exists else None
    return None


def _conditional_rewrite(
    model: ConfigModel, inside: Inside, server: Server, location: Location | None, request: Request, depth: int
) -> tuple[Step, Request | None, Location | None] | None:
    """A location's `if (!-f $request_filename) { rewrite … last; }`, as nginx's rewrite phase runs it: the test on
    what the gathering saw, then the rewrite followed to the location its URI lands in. None when no such block
    applies (or what it tests was not looked at)."""
    for block in location.conditionals if location is not None else ():
        test = block.condition
        rewrite = block.get("rewrite")
        if len(test) != 2 or test[0].lstrip("!") not in _FILE_TESTS or rewrite is None or len(rewrite.args) < 2:
            continue
        if test[1] != "$request_filename":
            continue
        path = filesystem_path(model, server, location, request.path)
        there = _exists(inside, path, _FILE_TESTS[test[0].lstrip("!")]) if path is not None else None
        if there is None or there == test[0].startswith("!"):
            continue  # not looked at, or the condition does not hold: the rewrite does not run
        pattern, replacement, *flag = rewrite.args
        where = str(rewrite.where)
        if flag and flag[0] in ("redirect", "permanent"):
            return Step("rewrite", True, f"{block.label()} redirects ({flag[0]})", where), None, None
        try:
            found = re.search(pattern, request.path)
        except re.error:
            found = None
        if found is None:
            continue
        uri = _substituted(replacement, found)
        uri = uri.split("?", 1)[0]
        if "$" in uri or "://" in uri:
            return Step("rewrite", True, f"{block.label()} rewrites to {replacement} (not traced)", where), None, None
        if flag and flag[0] == "break":
            said = f"{block.label()} rewrites {request.path} to {uri} and serves it here (break; not traced further)"
            return Step("rewrite", True, said, where), None, None
        landed = choose_location(server, uri)
        if (uri == request.path and landed is location) or depth > 8:
            said = (f"{block.label()} rewrites {request.path} to {uri or '(nothing)'}, which lands here again: nginx "
                    "stops after 10 rounds (rewrite or internal redirection cycle) and answers 500")  # fmt: skip
            return Step("rewrite", False, said, where, kind="cycle"), None, None
        moved = Request(uri, request.host, request.port, request.under_load, request.symptom)
        label = "(no location)" if landed is None else f"location {landed.modifier} {landed.path}".replace("  ", " ")
        return (
            Step("rewrite", True, f"{block.label()} rewrites {request.path} to {uri} ({label})", where),
            moved,
            landed,
        )
    return None


def _substituted(replacement: str, found: re.Match[str]) -> str:
    """A rewrite's replacement with $1..$9 made the regex's captures, as nginx makes them."""

    def capture(named: re.Match[str]) -> str:
        number = int(named.group(1))
        return (found.group(number) or "") if number <= found.re.groups else ""

    return re.sub(r"\$(\d)", capture, replacement)


def _access(model: ConfigModel, server: Server, location: Location | None, client: str | None) -> Step | None:
    """nginx's access phase, after rewrites (`return`) and before content: allow/deny, then auth_basic.

    With the CLIENT's address (a request from outside: the address Docker's port proxy connects from), the rules
    are applied as nginx applies them: the first that matches decides. Without it, only what the rules say of
    every client is judged: a `deny all` that no earlier rule names the client for. A password is asked of every
    request. Under `satisfy any`, either one letting the request through is enough.
    """
    rules = innermost(model, server, location, ("allow", "deny"))
    decided = _first_match(rules, client) if client is not None else None
    denied = decided or next((d for d in rules if d.args == ("all",)), None)
    refused = None
    if decided is not None and decided.name == "deny" and decided.args != ("all",):
        said = f"`deny {decided.args[0]}` refuses {client}, the address requests from outside arrive from"
        refused = Step("access", False, said, str(decided.where), kind="denied")
    elif denied is not None and denied.name == "deny":
        allowed = [d.args[0] for d in rules[: rules.index(denied)] if d.name == "allow"]
        said = (f"access rules allow only {', '.join(allowed[:4])}, and `deny all` refuses every other client"
                if allowed else "`deny all` refuses every client")  # fmt: skip
        refused = Step("access", False, said, str(denied.where), kind="denied")
    auth = next(iter(innermost(model, server, location, ("auth_basic",))), None)
    asked = None
    if auth is not None and auth.args and auth.args[0] != "off":
        asked = Step("access", False, f"auth_basic {auth.args[0]!r} asks every request for a password (401 without "
                     "one)", str(auth.where), kind="password")  # fmt: skip
    satisfy = innermost(model, server, location, ("satisfy",))
    if refused is not None and asked is not None and satisfy and satisfy[0].args == ("any",):
        return asked  # either would let it through: what a client lacks is the password
    return refused or asked


def _first_match(rules: list[Directive], client: str) -> Directive | None:
    """The allow/deny rule nginx applies to CLIENT: the first whose address or network holds it."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return None
    for rule in rules:
        value = rule.args[0]
        if value == "all":
            return rule
        try:
            if address in ipaddress.ip_network(value, strict=False):
                return rule
        except ValueError:
            continue  # unix: or a typo nginx -t would have refused
    return None


def dead_upstreams(facts: Facts) -> list[tuple[Location, Step]]:
    """Every proxied location of the configuration whose upstream gave no answer when asked directly, probed or
    not (a regex location no probe reaches, a named one behind try_files): evidence, with the line that proxies."""
    found: list[tuple[Location, Step]] = []
    for _, location in facts.config.all_locations():
        members = upstream_members(location, facts.config)
        if not members or not all(_on_this_server(m) for m in members):
            continue  # another machine's silence may be the network's (a test target has none): not judged here
        upstream = members[0]
        if all(facts.inside.upstreams.get(m) in ("000", "nosocket") for m in members):
            step = _upstream(facts, facts.inside, location, upstream)
            if not step.ok and all(step.where != seen.where for _, seen in found):
                found.append((location, step))
    return found


def _on_this_server(upstream: str) -> bool:
    if upstream.startswith("unix:"):
        return True
    try:
        host = urlsplit(upstream).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _upstream(facts: Facts, inside: Inside, location: Location, upstream: str) -> Step:
    directive = next(d for n in ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "grpc_pass") if (d := location.get(n)))
    where = str(directive.where)
    code = inside.upstreams.get(upstream)
    # FastCGI, uwsgi and gRPC name a bare address: say it as written, not as a URL nobody wrote.
    named = upstream if directive.name == "proxy_pass" else f"{directive.name} {directive.args[0]}"
    if upstream.startswith("unix:"):
        if code == "nosocket":
            said = f"{named}: the socket {upstream.removeprefix('unix:')} does not exist, so nothing serves it"
            return Step("upstream", False, said, where, upstream, "refused")
        return Step("upstream", True, f"{named}: the socket exists", where)
    parts = urlsplit(upstream)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    listening = facts.listeners_on(port)
    elsewhere = sorted(
        {f"{item.port} ({', '.join(item.processes) or '?'})" for item in facts.listeners if item.port not in (80, 443)}
    )
    if code == "listening":
        return Step("upstream", True, f"something listens for {named}", where)
    if code in (None, "skipped"):
        if not listening:
            return Step("upstream", False, f"{named}: nothing listens on port {port}", where, upstream, "refused")
        return Step("upstream", True, f"something listens on port {port} for {named}", where)
    if code == "000":
        if not listening:
            others = f"; listening inside: {', '.join(elsewhere)}" if elsewhere else ""
            return Step("upstream", False, f"{named} does not answer: nothing listens there{others}", where,
                        upstream, "refused")  # fmt: skip
        owners = ", ".join(sorted({name for item in listening for name in item.processes})) or "a process"
        hint = " (is it plain HTTP behind an https:// proxy_pass?)" if parts.scheme == "https" else ""
        states = {p.pid: p for p in facts.processes}
        stopped = sorted({f"{name} (pid {pid})" for item in listening for name, pid in item.users
                          if pid in states and states[pid].stopped})  # fmt: skip
        if stopped:
            hint = f": {', '.join(stopped)} is stopped (state T), so connections wait and are never answered"
        elif not any(item.users for item in listening):
            # ss names no owner (it cannot always see one): a stopped process on the server is the lead to follow.
            frozen = [f"{p.comm} (pid {p.pid})" for p in facts.processes if p.stopped and p.comm != "nginx"]
            if frozen:
                hint += f"; stopped (state T) on this server: {', '.join(frozen[:4])}"
        return Step("upstream", False, f"{named} does not answer: {owners} listens on port {port}, but no answer "
                    f"came back for this request{hint}", where, upstream, "silent")  # fmt: skip
    if code.isdigit() and int(code) >= 500:
        return Step("upstream", False, f"{named} answers {code}", where, upstream, "error")
    return Step("upstream", True, f"{named} answers {code}", where)


def _file(model: ConfigModel, inside: Inside, server: Server, location: Location | None, request: Request) -> Step:
    candidates = file_candidates(model, server, location, request.path)
    root = effective(server, location, "root", model)
    alias = location.get("alias") if location is not None else None
    decided = alias or (location.get("root") if location is not None else None) or server.get("root")
    where = str(decided.where) if decided is not None else (str(location.where) if location else str(server.where))
    if not candidates:
        return Step("file", True, "the file path is made of variables (not traced)", where)
    if not inside.ran:
        return Step("file", True, f"would read {candidates[0]} (not checked inside)", where)
    user = inside.user or model.user
    for candidate in candidates:
        blocked = _blocked(inside, candidate, user)
        if blocked is not None:
            return Step("file", False, blocked[0], where, subject=blocked[1], kind=blocked[2])
        stat = inside.stat(candidate)
        # A link the user can read through counts as the file it points at (`test -r` follows links).
        if stat is not None and stat.exists and (stat.kind.startswith("regular") or (_link(stat) and stat.readable)):
            return Step("file", True, f"{candidate} is readable by {user}", where, subject=candidate)
    top = (alias.args[0] if alias is not None and alias.args else root[0] if root else DEFAULT_ROOT).rstrip("/")
    top_seen = inside.stat(top) if top else None
    if (top_seen is None or top_seen.exists) and all(inside.stat(c) is None for c in candidates):
        # Files the gathering did not look at are unknown, not missing (it records a missing path as missing):
        # never a cause on their account.
        return Step("file", True, f"would read {candidates[0]} (not checked inside)", where)
    if top and top_seen is not None and not top_seen.exists:
        said = f"the {'alias' if alias else 'root'} {top} does not exist"
        return Step("file", False, said, where, subject=top, kind="missing-root")
    # The files it would read, each once: not the folder that `$uri/` names.
    names = ", ".join(dict.fromkeys(posixpath.basename(c) for c in candidates if c.rstrip("/") != top))
    under = f" under the alias {top}" if alias is not None and top else f" under the root {top}" if top else ""
    return Step("file", False, f"none of the files nginx would serve for {request.path} exists{under}: {names}",
                where, subject=top, kind="absent")  # fmt: skip


def _blocked(inside: Inside, path: str, user: str) -> tuple[str, str, str] | None:
    """Why USER cannot reach PATH (a directory it may not enter, a file it may not read), or None."""
    parts = components(path)
    for index, part in enumerate(parts):
        stat: PathStat | None = inside.stat(part)
        if stat is None or not stat.exists:
            return None  # missing is reported by the caller, once every candidate was tried
        last = index == len(parts) - 1
        if stat.kind == "directory" and not stat.enterable:
            return f"{part} cannot be entered by {user} (mode {stat.mode} {stat.owner})", part, "unenterable"
        if last and stat.kind.startswith("regular") and not stat.readable:
            return f"{part} is not readable by {user} (mode {stat.mode} {stat.owner})", part, "unreadable"
        if last and _link(stat) and not stat.readable:
            said = f"{part} is a symbolic link that {user} cannot read through (it points where {user} cannot read)"
            return said, part, "unreadable"
    return None


def _link(stat: PathStat) -> bool:
    return stat.kind == "symbolic link"


def _fetched(model: ConfigModel, inside: Inside, request: Request) -> Fetch | None:
    url = local_url(model, request.port, request.path)
    return next((f for f in inside.fetches if f.url == url), None)
