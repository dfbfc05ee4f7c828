"""Units about nginx's configuration: what is enabled, what is included, what was loaded, what fails the test."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.command import ExecResult
from harness.errors import RemedyError
from harness.server_paths import BACKUP_DIR
from harness.target import Target
from harness.units import (
    another_answers,
    blamed,
    bring_up,
    config_change,
    note,
    ports_of,
    recorded,
    required,
    restore_from_record,
    reverting,
    serving,
    stamp,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from harness.confmodel import Server
    from harness.doctor import Diagnosis
    from harness.facts import Facts
    from harness.trace import Trace

_LOG_FILE = re.compile(r"\.log$|/log/")
SITES_DIRS = ("/etc/nginx/sites-available", "/etc/nginx/sites-enabled")


def _not_on_80(facts: Facts) -> bool:
    return serving(facts) and not facts.nginx_listens_on(80)


# -- log directory ----------------------------------------------------------------------------------


def _log_dir_missing(ctx: Context) -> Finding | None:
    gone = [m for m in ctx.facts.missing if not m.directory_exists and _LOG_FILE.search(m.path)]
    if gone and ctx.facts.nginx_master is None:
        dirs = ", ".join(sorted({m.directory for m in gone}))
        return Finding(f"nginx cannot start: its log directory {dirs} does not exist")
    return None


def _recreate_log_dirs(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    folders = sorted({m.directory for m in facts.missing if not m.directory_exists})
    # Ubuntu's packaging: root-owned, group adm, so log readers in adm keep access.
    steps = [target.exec(["install", "-d", "-m", "0755", "-o", "root", "-g", "adm", d], check=True) for d in folders]
    return [*steps, *bring_up(target, facts)]


# -- sites-enabled ------------------------------------------------------------------------------------


def _dangling(ctx: Context) -> Finding | None:
    dangling = ctx.facts.dangling_links()
    if dangling:
        names = ", ".join(f"sites-enabled/{e.name} -> {e.link_target}" for e in dangling)
        state = "nginx is down" if ctx.facts.nginx_master is None else "the next restart will fail"
        return Finding(f"{state}: {names} points at a file that does not exist")
    return None


def _link_unlinked(target: Target, facts: Facts) -> list[ExecResult]:
    sites = facts.unlinked_sites()
    if not sites:
        raise RemedyError("no site in sites-available is left to link; restore the site's file from a backup")
    return [target.nginx.enable_site(site) for site in sites]


def _replace_dangling(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    steps = [
        target.exec(["rm", "-f", "--", f"{target.nginx.SITES_ENABLED}/{e.name}"], check=True)
        for e in facts.dangling_links()
    ]
    return [*steps, *_link_unlinked(target, facts), *bring_up(target, facts)]


def _stale_copy(ctx: Context) -> Finding | None:
    facts = ctx.facts
    copies = [e for e in facts.copied_sites() if e.name in facts.available]
    lost = {f.rsplit("/", 1)[-1] for f in _lost_files(ctx)}
    if serving(facts) and copies and lost & {e.name for e in copies}:
        names = ", ".join(f"sites-enabled/{e.name}" for e in copies if e.name in lost)
        who = "another server answers" if _answered_elsewhere(ctx) else "nothing answers"
        return Finding(
            f"{who} this site's requests: {names} is a stale copy (a regular file, not a link "
            "to sites-available) that no longer serves them"
        )
    if _not_on_80(facts) and copies:
        names = ", ".join(f"sites-enabled/{e.name}" for e in copies)
        return Finding(
            f"nginx serves no site on port 80: {names} is a stale copy (a regular file, not a link to "
            "sites-available) and does not listen on port 80"
        )
    return None


def _replace_stale_copies(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    keep = f"{BACKUP_DIR}/stale-copies/{stamp()}"
    steps = [target.exec(["install", "-d", "-m", "0750", keep], check=True)]
    for copy in facts.copied_sites():
        # Out of sites-enabled (every file there is included), but kept: someone may want its edits.
        steps.append(target.exec(["mv", "--", f"{target.nginx.SITES_ENABLED}/{copy.name}", keep], check=True))
        if copy.name in facts.available:
            steps.append(target.nginx.enable_site(copy.name))
    return [*steps, *bring_up(target, facts)]


def _answered_elsewhere(ctx: Context) -> bool:
    """Some server answers the requests the lost site served: else "another server answers" would be untrue."""
    lost = ctx.lost_servers()
    return bool(lost) and all(another_answers(item) for item, _ in lost)


def _lost_files(ctx: Context) -> set[str]:
    """The files of the servers that answered the failing requests at the healthy check, and no longer do."""
    return {server.where.file for _, server in ctx.lost_servers()}


def _not_enabled(ctx: Context) -> Finding | None:
    facts = ctx.facts
    unlinked = facts.unlinked_sites()
    lost = {f.rsplit("/", 1)[-1] for f in _lost_files(ctx) if f.startswith("/etc/nginx/sites-available/")}
    if serving(facts) and unlinked and lost & set(unlinked) and _answered_elsewhere(ctx):
        unlinked = tuple(s for s in unlinked if s in lost)
        names = ", ".join(f"sites-available/{s}" for s in unlinked)
        return Finding(
            f"another server answers requests for {names}: the site is not linked into sites-enabled "
            "(nginx runs and its config is valid)"
        )
    if (_not_on_80(facts) or (serving(facts) and lost & set(unlinked))) and unlinked:
        names = ", ".join(f"sites-available/{s}" for s in unlinked if not lost or s in lost)
        return Finding(
            f"nginx runs with a valid config but serves no site on port 80: {names} is not linked into sites-enabled"
        )
    return None


def _relink(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return [*_link_unlinked(target, diagnosis.facts), *bring_up(target, diagnosis.facts)]


def _not_loaded(ctx: Context) -> Finding | None:
    facts = ctx.facts
    if _not_on_80(facts) and facts.configured_for(80):
        return Finding(
            "nginx runs an older configuration than the one on disk: the config on disk serves port 80 "
            "and passes the test, but nginx was not reloaded or restarted since it changed"
        )
    return None


def _reload(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return bring_up(target, diagnosis.facts)


# -- includes and listen -----------------------------------------------------------------------------


def _empty_includes(ctx: Context) -> list[str]:
    """Includes whose folder does not exist at all: a typo, not an empty sites-enabled."""
    from harness.confmodel import resolve

    model = ctx.facts.config
    found = []
    for include in model.includes:
        folder = posixpath.dirname(include.resolved)
        if include.collected and not include.matched and resolve(folder, model.files) is None:
            near = [
                p
                for p in model.files
                if model.files[p].kind == "dir" and posixpath.dirname(p) == posixpath.dirname(folder)
            ]
            close = sorted(near, key=lambda p: -_similar(p, folder))[:1]
            hint = f"; {close[0]}/ exists" if close and _similar(close[0], folder) > 0.8 else ""
            found.append(f"{include.where.file} includes {include.pattern}, which matches no file "
                         f"({include.where}){hint}")  # fmt: skip
    return found


def _similar(a: str, b: str) -> float:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio()


def _include_matches_nothing(ctx: Context) -> Finding | None:
    empty = _empty_includes(ctx)
    if not empty:
        return None
    if _not_on_80(ctx.facts) and not ctx.facts.config.servers_on(80):
        return Finding("nginx serves no site on port 80: " + "; ".join(empty))
    unread = _unread_lost(ctx)
    if unread:  # another server (a default that drops unknown names, say) answers what the lost site served
        trace, server = unread[0]
        who = "another server answers" if another_answers(trace) else "nothing answers"
        return Finding(f"{who} {trace.label()}: {server.label()} is no longer read, because "
                       + "; ".join(empty))  # fmt: skip
    return None


def _unread_lost(ctx: Context) -> list[tuple[Trace, Server]]:
    """Failing requests whose server at the healthy check is in a file nginx no longer reads at all."""
    read = ctx.facts.config.contents
    return [(trace, server) for trace, server in ctx.lost_servers() if server.where.file not in read]


_SITE_FOLDERS = ("/etc/nginx/sites-enabled/", "/etc/nginx/conf.d/")


def _sites_not_included(ctx: Context) -> Finding | None:
    """Enabled sites exist, but nothing nginx reads includes them (the include line was removed or commented out)."""
    facts = ctx.facts
    model = facts.config
    nothing_on_80 = _not_on_80(facts) and not model.servers_on(80)
    unread_lost = _unread_lost(ctx)
    if not (nothing_on_80 or unread_lost) or not model.parsed or _empty_includes(ctx):
        return None  # an include that matches nothing is its own cause (a typo in the path)
    enabled = [
        path
        for path, entry in model.files.items()
        if entry.kind != "dir"
        and path.startswith(_SITE_FOLDERS)
        and (path.startswith(_SITE_FOLDERS[0]) or path.endswith(".conf"))
    ]
    # A folder none of whose files nginx read: its include is gone (a folder read in part has one).
    folders = sorted(
        folder
        for folder in _SITE_FOLDERS
        if (inside := [p for p in enabled if p.startswith(folder)]) and not any(p in model.parsed for p in inside)
    )
    unread = sorted(path for path in enabled if path.startswith(tuple(folders)))
    if not unread:
        return None
    files = ", ".join(model.parsed[:4])
    why = (f"{', '.join(unread[:3])} {'is' if len(unread) == 1 else 'are'} enabled, but no include in the "
           f"configuration nginx reads names {' or '.join(folders)} (its files: {files})")  # fmt: skip
    if nothing_on_80:
        return Finding(f"nginx serves no site on port 80: {why}")
    trace, server = unread_lost[0]
    who = "another server answers" if another_answers(trace) else "nothing answers"
    return Finding(f"{who} {trace.label()}, which {server.label()} served: {why}")


def _listens_elsewhere(ctx: Context) -> Finding | None:
    facts = ctx.facts
    model = facts.config
    for _, step in ctx.broken("socket"):
        if step.kind == "unreachable-address" and serving(facts):
            return Finding(f"{step.detail} ({step.where})" if step.where else step.detail)
    for item, before in ctx.lost_servers():
        same = [s for s in model.servers if s.where.file == before.where.file and s.names == before.names]
        port = item.request.port
        if serving(facts) and same and not any(s.listens_on(port) for s in same):
            who = "another server answers its requests" if another_answers(item) else f"nothing answers on {port}"
            return Finding(f"{same[0].label()} listens on {ports_of(same[0])}, not on {port} as at the healthy "
                           f"check ({same[0].listens[0].where}): {who}{_cannot_bind(facts, same[0])}")  # fmt: skip
    moved = _moved_listen(ctx)
    if moved is not None:
        return moved
    if not _not_on_80(facts) or model.servers_on(80) or not model.servers:
        return None
    listens = [f"{s.label()} listens on {ports_of(s)} ({s.listens[0].where})"
               for s in model.servers]  # fmt: skip
    return Finding("nginx serves no site on port 80: " + "; ".join(listens[:3]) + ", not on 80")


def _cannot_bind(facts: Facts, server: Server) -> str:
    """ "; nginx cannot bind 8080, held by …" when a port SERVER names is another process's."""
    from harness.units.process import bind_failures, holders

    held = sorted({i.port for i in server.listens if facts.others_on(i.port) and not facts.nginx_listens_on(i.port)})
    if not held:
        return ""
    failures = bind_failures(facts)
    said = f" (nginx: {failures[-1]})" if failures else ""
    return f"; nginx cannot bind {', '.join(map(str, held))}, held by {holders(facts, held)}{said}"


def _moved_listen(ctx: Context) -> Finding | None:
    """No request failed yet, but a server's listen line moved off a port it served at the healthy check (a reload
    that could not bind the new port leaves nginx on the old configuration, until the next restart)."""
    facts, baseline = ctx.facts, ctx.baseline
    if baseline is None or not serving(facts):
        return None
    now_by = _by_identity(facts.config.servers)
    for key, befores in _by_identity(baseline.config.servers).items():
        nows = now_by.get(key, [])
        # One file often holds several servers of the same names (a redirect on 80 and the TLS server on 443): a
        # port is gone only when none of them names it any more, not when one of them never did.
        gone = sorted(_ports(befores) - _ports(nows) - {-1})
        if not gone or not nows:
            continue
        # Name the server in the place of the one that served the port (edits keep the servers of a file in order).
        index = next(n for n, s in enumerate(befores) if any(i.port in gone for i in s.listens))
        now = nows[min(index, len(nows) - 1)]
        if now.listens:
            state = ("; nginx still serves its previous configuration until the next restart"
                     if all(facts.nginx_listens_on(p) for p in gone) else "")  # fmt: skip
            return Finding(f"{now.label()} listens on {ports_of(now)}, not on {', '.join(map(str, gone))} as at the "
                           f"healthy check ({now.listens[0].where}){_cannot_bind(facts, now)}{state}")  # fmt: skip
    return None


def _by_identity(servers: Iterable[Server]) -> dict[tuple[str, tuple[str, ...]], list[Server]]:
    """Servers by file and names, in file order: what stays the same when a listen line is edited."""
    groups: dict[tuple[str, tuple[str, ...]], list[Server]] = {}
    for server in servers:
        groups.setdefault((server.where.file, server.names), []).append(server)
    return groups


def _ports(servers: Iterable[Server]) -> set[int]:
    return {i.port for s in servers for i in s.listens}


# Without a healthy record to put back, what a person does.
_restore_changed_files = reverting("fix the file named above by hand, then `nginx -t` and reload")


# -- the configuration test --------------------------------------------------------------------------


def _invalid(ctx: Context) -> Finding | None:
    if ctx.facts.nginx_master is None and not ctx.facts.config_ok and ctx.facts.nginx_runs_here:
        return Finding(f"nginx is down and its configuration test fails in {_culprit(ctx.facts)}{_said(ctx.facts)}")
    return None


def _latent(ctx: Context) -> Finding | None:
    master = ctx.facts.nginx_master
    if master is not None and not master.stopped and not ctx.facts.config_ok and ctx.facts.nginx_runs_here:
        return Finding(
            f"nginx still serves its old configuration, but the one on disk fails the test in {_culprit(ctx.facts)}"
            f"{_said(ctx.facts)}: the next restart or reboot takes port 80 down"
        )
    return None


_OPEN_FAILED = re.compile(r'open\(\) "([^"]+)" failed \(\d+: ([^)]+)\)')


def _culprit(facts: Facts) -> str:
    """The file at fault: the one nginx could not open (a link loop, a file gone) when the test says so, rather
    than the file whose include names it (an nginx.conf that may not even be in the team's tree)."""
    found = _OPEN_FAILED.search(facts.config_output)
    if found is None or found.group(1).endswith(".pid"):
        return blamed(facts)
    path, why = found.groups()
    return f"{path} ({why.lower()}, included from {blamed(facts)})"


def _said(facts: Facts) -> str:
    """nginx -t's own complaint: the line that says what is wrong, not the 'test failed' that follows it."""
    from harness.facts import nginx_message

    lines = [line for line in facts.config_output.splitlines() if "[emerg]" in line or "[alert]" in line]
    return f" (nginx -t: {nginx_message(lines[0])[:200]})" if lines else ""


def _roll_back(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    """The blamed file back to a version that passes `nginx -t`, from the best source the server has.

    Sources, in order: the deploy tool's backups; the healthy examination's
    record of /etc/nginx; for a file that is not a site and did not exist at
    the healthy check (a stray conf.d file), moving it aside.
    """
    facts = diagnosis.facts
    if facts.config_file is None:
        raise RemedyError("nginx -t names no file to roll back; fix the configuration by hand")
    named, real = facts.config_file
    steps: list[ExecResult] = []
    was = recorded(diagnosis, real)
    if was is not None and was == facts.config.raw.get(real):
        # Unchanged since the healthy check: what it names (an included file, a folder) changed, not it.
        raise RemedyError(f"{named} is as it was at the healthy check; what it names changed")
    for backup in facts.backups_of(real):
        try:
            with config_change(target, [real], steps):
                steps.append(target.exec(["cp", "-a", "--", backup, real], check=True))
                steps.append(note("source:", "the deploy tool's backup", backup))
            return steps
        except RemedyError:
            continue
    if recorded(diagnosis, real) is not None or (
        diagnosis.context.baseline is not None and not real.startswith(SITES_DIRS)
    ):
        return steps + restore_from_record(target, diagnosis, [real], load=False)
    if not real.startswith(SITES_DIRS) and real != "/etc/nginx/nginx.conf":
        keep = f"{BACKUP_DIR}/rejected/{stamp()}{real}"
        with config_change(target, [real], steps):
            steps.append(target.exec(["install", "-D", "-m", "0640", "--", real, keep], check=True))
            steps.append(target.exec(["rm", "-f", "--", real], check=True))
            steps.append(note("moved", real, "aside to", keep, "(an included file that is not a site)"))
        return steps
    raise RemedyError(f"no backup or healthy record of {real} to roll back to; fix {named} by hand, then nginx -t")


def _roll_back_and_start(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    steps = _roll_back(target, diagnosis)
    return [*steps, required(target.nginx.start(), "nginx did not start after the rollback")]


def _roll_back_and_reload(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    steps = _roll_back(target, diagnosis)
    return [*steps, required(target.nginx.reload(), "nginx did not reload the rolled-back config")]


LOG_DIR_MISSING = Cause(
    "log-dir-missing",
    _log_dir_missing,
    order=30,
    area="config",
    measures=("Exclude nginx's log directory from cleanup jobs; use logrotate for nginx logs.",),
    remedy=_recreate_log_dirs,
)
DANGLING_SITE_LINK = Cause(
    "dangling-site-link",
    _dangling,
    order=40,
    area="config",
    measures=("Validate sites-enabled links in CI; refuse deploys that rename files in sites-available.",),
    remedy=_replace_dangling,
)
CONFIG_INVALID = Cause(
    "config-invalid",
    _invalid,
    order=50,
    area="config",
    measures=("Run `nginx -t` before every restart in deploy tooling, and roll back automatically when it fails.",),
    remedy=_roll_back_and_start,
)
LATENT_CONFIG_INVALID = Cause(
    "latent-config-invalid",
    _latent,
    order=60,
    area="config",
    measures=("Run `nginx -t` after every config deploy, even one that only reloads.",),
    remedy=_roll_back_and_reload,
)
STALE_SITE_COPY = Cause(
    "stale-site-copy",
    _stale_copy,
    order=90,
    area="config",
    measures=("Keep only links in sites-enabled; alert on regular files there.",),
    remedy=_replace_stale_copies,
)
SITE_NOT_ENABLED = Cause(
    "site-not-enabled",
    _not_enabled,
    order=100,
    area="config",
    measures=(
        "Manage the sites-enabled link with configuration management (e.g. Puppet `file { ...: ensure => link }`) "
        "instead of by hand.",
        "Run `harness check` after every deploy: it fails when nginx runs but serves no site on port 80.",
    ),
    remedy=_relink,
)
INCLUDE_MATCHES_NOTHING = Cause(
    "include-matches-nothing",
    _include_matches_nothing,
    order=104,
    area="config",
    measures=("Review nginx.conf changes like code; `harness check` after a deploy catches a site that vanished.",),
    remedy=_restore_changed_files,
    advice="correct the include path in the file and line named above, then `nginx -t` and reload",
)
SITES_NOT_INCLUDED = Cause(
    "sites-not-included",
    _sites_not_included,
    order=105,
    area="config",
    measures=("Review nginx.conf changes like code; `harness check` after a deploy catches a site that vanished.",),
    remedy=_restore_changed_files,
    advice="put `include /etc/nginx/sites-enabled/*;` back in nginx.conf's http block, then `nginx -t` and reload",
)
SITE_LISTENS_ELSEWHERE = Cause(
    "site-listens-elsewhere",
    _listens_elsewhere,
    order=106,
    area="config",
    measures=("Probe every port a site must serve from outside after each config deploy.",),
    remedy=_restore_changed_files,
    advice="point the listen directive named above back to port 80 on an address clients reach (`listen 80;`), "
    "then `nginx -t` and reload",
)
CONFIG_NOT_LOADED = Cause(
    "config-not-loaded",
    _not_loaded,
    order=110,
    area="config",
    measures=("Make deploys restart or reload nginx after a config change, and check port 80 after.",),
    remedy=_reload,
)
