"""Repairs chosen from a diagnosis, never from the scenario that was injected.

Each remedy is the runbook answer to one cause. It reads what the doctor found
(which site is unlinked, which file fails the config test, which pid holds
port 80) and returns the commands it ran, so the report can show exactly what
was done to the server. Everything runs inside the target as argv lists; a
value read from the target is only ever an argument, never shell text.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import UTC, datetime

from harness.doctor import UNEXPLAINED, Diagnosis
from harness.errors import RemedyError
from harness.facts import BACKUP_DIR, Facts
from harness.rules import APP_URL, HEALTHY, blocks_port_80
from harness.target import ExecResult, Target

Remedy = Callable[[Target, Diagnosis], list[ExecResult]]

RELEASE_DIR = "/opt/site/release"  # the last site release, as the deploy left it
# Constant scripts for waits that have no single command; never built from input.
# Each runs under the exec deadline WAIT_TIMEOUT, so a wait that never ends fails the remedy.
WAIT_PORT_80_FREE = "while ss -ltnH 'sport = :80' | grep -q .; do sleep 0.1; done"
WAIT_APP_ANSWERS = f"until curl -sf -o /dev/null -m 1 {APP_URL}; do sleep 0.1; done"
WAIT_TIMEOUT = 10.0


def _required(result: ExecResult, problem: str) -> ExecResult:
    if not result.ok:
        raise RemedyError(
            f"{problem}: {' '.join(result.argv)} exited {result.exit_code}: {result.output.strip()[-300:]}"
        )
    return result


def _wait(target: Target, script: str, problem: str) -> ExecResult:
    result = target.exec(["sh", "-c", script], timeout=WAIT_TIMEOUT)
    return _required(result, f"{problem} within {WAIT_TIMEOUT:g} s" if result.timed_out else problem)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _bring_up(target: Target, facts: Facts, restart: bool = False) -> list[ExecResult]:
    """Test the config, then start nginx, or make a running one load it.

    A running master loads a changed config on reload (SIGHUP) without dropping
    a connection; a restart is needed only for what a reload keeps, such as
    the master's own limits, and costs a full second in Debian's init script.
    """
    steps = [_required(target.nginx.test_config(), "the config test still fails")]
    if facts.nginx_master is None:
        steps.append(_required(target.nginx.start(), "nginx did not start"))
    elif restart:
        steps.append(_required(target.nginx.restart(), "nginx did not restart"))
    else:
        steps.append(_required(target.nginx.reload(), "nginx did not reload"))
    return steps


def _link_unlinked(target: Target, facts: Facts) -> list[ExecResult]:
    sites = facts.unlinked_sites()
    if not sites:
        raise RemedyError("no site in sites-available is left to link; restore the site's file from a backup")
    return [target.nginx.enable_site(site) for site in sites]


# -- configuration and files ------------------------------------------------


def _relink_sites(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return [*_link_unlinked(target, diagnosis.facts), *_bring_up(target, diagnosis.facts)]


def _restart_to_load(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return _bring_up(target, diagnosis.facts)


def _replace_dangling_links(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    steps = [
        target.exec(["rm", "-f", "--", f"{target.nginx.SITES_ENABLED}/{e.name}"], check=True)
        for e in facts.dangling_links()
    ]
    return [*steps, *_link_unlinked(target, facts), *_bring_up(target, facts)]


def _replace_stale_copies(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    keep = f"{BACKUP_DIR}/stale-copies/{_stamp()}"
    steps = [target.exec(["install", "-d", "-m", "0750", keep], check=True)]
    for copy in facts.copied_sites():
        # Out of sites-enabled (every file there is included), but kept: someone may want its edits.
        steps.append(target.exec(["mv", "--", f"{target.nginx.SITES_ENABLED}/{copy.name}", keep], check=True))
        if copy.name in facts.available:
            steps.append(target.nginx.enable_site(copy.name))
    return [*steps, *_bring_up(target, facts)]


def _roll_back_config(target: Target, facts: Facts) -> list[ExecResult]:
    """Restore the newest backup of the blamed file that passes the config test."""
    if facts.config_file is None:
        raise RemedyError("nginx -t names no file to roll back; fix the configuration by hand")
    named, real = facts.config_file
    candidates = facts.backups_of(real)
    if not candidates:
        raise RemedyError(f"no backup of {real} in {BACKUP_DIR} to roll back to; fix {named} by hand")
    rejected = f"{BACKUP_DIR}/rejected/{_stamp()}{real}"
    steps = [
        target.exec(["install", "-D", "-m", "0640", "--", real, rejected], check=True),
    ]
    for backup in candidates:
        steps.append(target.exec(["cp", "-a", "--", backup, real], check=True))
        test = target.nginx.test_config()
        steps.append(test)
        if test.ok:
            return steps
    steps.append(target.exec(["cp", "-a", "--", rejected, real], check=True))
    raise RemedyError(f"none of the {len(candidates)} backups of {real} passes nginx -t; fix it by hand")


def _roll_back_and_start(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    steps = _roll_back_config(target, diagnosis.facts)
    return [*steps, _required(target.nginx.start(), "nginx did not start after the rollback")]


def _roll_back_and_reload(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    steps = _roll_back_config(target, diagnosis.facts)
    return [*steps, _required(target.nginx.reload(), "nginx did not reload the rolled-back config")]


def _recreate_log_dirs(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    folders = sorted({m.directory for m in facts.missing if not m.directory_exists})
    # Ubuntu's packaging: root-owned, group adm, so log readers in adm keep access.
    steps = [target.exec(["install", "-d", "-m", "0755", "-o", "root", "-g", "adm", d], check=True) for d in folders]
    return [*steps, *_bring_up(target, facts)]


def _open_web_root(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    roots = [r.path for r in diagnosis.facts.docroots if r.exists and not r.worker_can_read]
    return [target.exec(["chmod", "-R", "a+rX", "--", root], check=True) for root in roots]


def _restore_index(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    roots = [r.path for r in diagnosis.facts.docroots if r.exists and not r.index_files]
    # -n: put back what is missing, never overwrite pages that are there.
    restore = [target.exec(["cp", "-a", "-n", f"{RELEASE_DIR}/.", f"{root}/"]) for root in roots]
    problem = f"restoring pages from the site release in {RELEASE_DIR} failed (redeploy the site)"
    return [_required(step, problem) for step in restore]


# -- process ----------------------------------------------------------------


def _start_nginx(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return [_required(target.nginx.start(), "nginx did not start")]


def _clear_pidfile_and_start(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return [target.exec(["rm", "-f", "/run/nginx.pid"], check=True), *_start_nginx(target, diagnosis)]


def _kill_hung_nginx(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    # A stopped process ignores TERM until continued; only KILL is sure to end it.
    pids = [str(p.pid) for p in diagnosis.facts.nginx_processes]
    return [target.exec(["kill", "-KILL", *pids]), *_clear_pidfile_and_start(target, diagnosis)]


def _evict_squatter(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    pids = sorted({str(pid) for item in diagnosis.facts.others_on(80) for pid in item.pids})
    if not pids:
        raise RemedyError("the diagnosis names no process holding port 80")
    steps = [target.exec(["kill", "-TERM", *pids])]
    steps.append(_wait(target, WAIT_PORT_80_FREE, "port 80 was not released"))
    return [*steps, *_start_nginx(target, diagnosis)]


# -- resources and network --------------------------------------------------


def _lift_fd_limit(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    if not diagnosis.facts.ulimit_settings:
        raise RemedyError("the low open-files limit is not set in /etc/default/nginx; raise it where nginx starts")
    comment_out = r"s/^\([[:space:]]*ULIMIT=.*\)$/# \1  # disabled: below worker_connections/"
    steps = [target.exec(["sed", "-i", comment_out, "/etc/default/nginx"], check=True)]
    # A running master keeps its limit through a reload; only a restart applies the new one.
    return [*steps, *_bring_up(target, diagnosis.facts, restart=True)]


def _open_firewall(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    steps = []
    for rule in diagnosis.facts.firewall_rules:
        if blocks_port_80(rule):
            words = shlex.split(rule)
            steps.append(target.exec(["iptables", "-w", "2", "-D", *words[1:]], check=True))
    return steps


# -- application ------------------------------------------------------------


def _roll_back_app(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    previous = diagnosis.facts.previous_release
    if previous is None:
        raise RemedyError("the deploy history names no previous release to roll back to")
    steps = [_required(target.exec(["deploy-app", previous]), f"rolling back to {previous} failed")]
    steps.append(_wait(target, WAIT_APP_ANSWERS, f"the app did not answer on {previous}"))
    return steps


def _start_app(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    steps = [_required(target.exec(["service", "app", "start"]), "the app did not start")]
    steps.append(_wait(target, WAIT_APP_ANSWERS, "the app did not answer"))
    return steps


def _nothing(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return []


REMEDIES: dict[str, Remedy] = {
    HEALTHY: _nothing,
    "site-not-enabled": _relink_sites,
    "config-not-loaded": _restart_to_load,
    "dangling-site-link": _replace_dangling_links,
    "stale-site-copy": _replace_stale_copies,
    "config-invalid": _roll_back_and_start,
    "latent-config-invalid": _roll_back_and_reload,
    "log-dir-missing": _recreate_log_dirs,
    "web-root-unreadable": _open_web_root,
    "index-missing": _restore_index,
    "nginx-not-running": _start_nginx,
    "nginx-crashed": _clear_pidfile_and_start,
    "nginx-hung": _kill_hung_nginx,
    "port-squatted": _evict_squatter,
    "fd-limit-too-low": _lift_fd_limit,
    "firewall-blocks-port": _open_firewall,
    "app-release-crashing": _roll_back_app,
    "app-not-running": _start_app,
}


def remedy_for(diagnosis: Diagnosis) -> Remedy:
    if diagnosis.cause == UNEXPLAINED:
        raise RemedyError(
            f"the doctor could not explain the outage, so nothing was repaired: {diagnosis.summary}; repair it by hand"
        )
    try:
        return REMEDIES[diagnosis.cause]
    except KeyError:
        raise RemedyError(f"no remedy is known for cause {diagnosis.cause!r}; repair it by hand") from None
