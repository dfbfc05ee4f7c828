"""The doctor's rules: each reads Facts and either names a cause or passes.

Rules run in a fixed order and the first that fits wins, so each may assume
the ones before it did not match. `set_aside` lists the alarming signals a
diagnosis looked at and ruled out: the misleading paths responders chase.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.facts import Facts

HEALTHY = "healthy"
APP_URL = "http://127.0.0.1:9000/"  # the app behind /app/, as fetched inside the server

Finding = tuple[str, str]
Rule = Callable[[Facts], Finding | None]
_LOG_FILE = re.compile(r"\.log$|/log/")


def _nginx_hung(facts: Facts) -> Finding | None:
    stopped = [p for p in facts.nginx_processes if p.stopped]
    if stopped and facts.nginx_master in stopped:
        return "nginx-hung", (
            f"nginx is hung: {len(stopped)} nginx processes are stopped (state T), so connections queue "
            "and time out instead of being refused"
        )
    return None


def _port_squatted(facts: Facts) -> Finding | None:
    squatters = facts.others_on(80)
    if squatters and facts.nginx_master is None:
        names = ", ".join(f"{name} (pid {pid})" for s in squatters for name, pid in s.users)
        return "port-squatted", f"nginx is down because another process holds port 80: {names}"
    return None


def _log_dir_missing(facts: Facts) -> Finding | None:
    gone = [m for m in facts.missing if not m.directory_exists and _LOG_FILE.search(m.path)]
    if gone and facts.nginx_master is None:
        dirs = ", ".join(sorted({m.directory for m in gone}))
        return "log-dir-missing", f"nginx cannot start: its log directory {dirs} does not exist"
    return None


def _dangling_site_link(facts: Facts) -> Finding | None:
    dangling = facts.dangling_links()
    if dangling:
        names = ", ".join(f"sites-enabled/{e.name} -> {e.link_target}" for e in dangling)
        state = "nginx is down" if facts.nginx_master is None else "the next restart will fail"
        return "dangling-site-link", f"{state}: {names} points at a file that does not exist"
    return None


def _blamed(facts: Facts) -> str:
    if facts.config_file is None:
        return "the configuration"
    named, real = facts.config_file
    return named if named == real else f"{named} (-> {real})"


def _config_invalid(facts: Facts) -> Finding | None:
    if facts.nginx_master is None and not facts.config_ok:
        return "config-invalid", f"nginx is down and its configuration test fails in {_blamed(facts)}"
    return None


def _latent_config_invalid(facts: Facts) -> Finding | None:
    master = facts.nginx_master
    if master is not None and not master.stopped and not facts.config_ok:
        return "latent-config-invalid", (
            f"nginx still serves its old configuration, but the one on disk fails the test in {_blamed(facts)}: "
            "the next restart or reboot takes port 80 down"
        )
    return None


def _nginx_crashed(facts: Facts) -> Finding | None:
    if facts.nginx_master is None and facts.config_ok and facts.stale_pidfile:
        return "nginx-crashed", (
            f"nginx died without shutting down: /run/nginx.pid still names pid {facts.pidfile}, which is gone"
        )
    return None


def _nginx_not_running(facts: Facts) -> Finding | None:
    if facts.nginx_master is None and facts.config_ok:
        return "nginx-not-running", "nginx is not running although its configuration is valid"
    return None


def _serving(facts: Facts) -> bool:
    master = facts.nginx_master
    return bool(master and not master.stopped and facts.config_ok)


def _stale_site_copy(facts: Facts) -> Finding | None:
    copies = [e for e in facts.copied_sites() if e.name in facts.available]
    if _serving(facts) and not facts.nginx_listens_on(80) and copies:
        names = ", ".join(f"sites-enabled/{e.name}" for e in copies)
        return "stale-site-copy", (
            f"nginx serves no site on port 80: {names} is a stale copy (a regular file, not a link to "
            "sites-available) and does not listen on port 80"
        )
    return None


def _site_not_enabled(facts: Facts) -> Finding | None:
    unlinked = facts.unlinked_sites()
    if _serving(facts) and not facts.nginx_listens_on(80) and unlinked:
        names = ", ".join(f"sites-available/{s}" for s in unlinked)
        return (
            "site-not-enabled",
            f"nginx runs with a valid config but serves no site on port 80: {names} is not linked into sites-enabled",
        )
    return None


def _config_not_loaded(facts: Facts) -> Finding | None:
    if _serving(facts) and not facts.nginx_listens_on(80) and facts.configured_for(80):
        return "config-not-loaded", (
            "nginx runs an older configuration than the one on disk: the config on disk serves port 80 "
            "and passes the test, but nginx was not reloaded or restarted since it changed"
        )
    return None


def _firewall_blocks_port(facts: Facts) -> Finding | None:
    blocking = [r for r in facts.firewall_rules if blocks_port_80(r)]
    if blocking and facts.nginx_listens_on(80):
        return "firewall-blocks-port", (
            f"nginx serves port 80 inside the server, but the firewall drops it from outside: {'; '.join(blocking)}"
        )
    return None


def blocks_port_80(rule: str) -> bool:
    words = rule.split()
    return (
        "--dport" in words
        and words[words.index("--dport") + 1] in ("80", "http")
        and ("DROP" in words or "REJECT" in words)
    )


def _web_root_unreadable(facts: Facts) -> Finding | None:
    bad = [r for r in facts.docroots if r.exists and not r.worker_can_read]
    if _serving(facts) and bad:
        names = ", ".join(r.path for r in bad)
        return "web-root-unreadable", (
            f"nginx answers 403: its worker user {bad[0].worker_user} cannot read the document root {names}"
        )
    return None


def _index_missing(facts: Facts) -> Finding | None:
    bare = [r for r in facts.docroots if r.exists and r.worker_can_read and not r.index_files]
    if _serving(facts) and bare:
        wanted = " ".join(facts.directive("index")) or "index.html"
        return "index-missing", (
            f"nginx answers 403 or 404: the document root {', '.join(r.path for r in bare)} has none of its "
            f"index files ({wanted})"
        )
    return None


def _fd_limit_too_low(facts: Facts) -> Finding | None:
    limit, wanted = facts.open_files_limit, facts.worker_connections
    if _serving(facts) and limit is not None and wanted is not None and limit < wanted:
        source = f" (set by {'; '.join(facts.ulimit_settings)} in /etc/default/nginx)" if facts.ulimit_settings else ""
        return "fd-limit-too-low", (
            f"nginx may open only {limit} files{source} but allows {wanted} connections per worker: "
            "requests fail under concurrent load"
        )
    return None


def _app_down(facts: Facts) -> Finding | None:
    if not _serving(facts) or facts.app_running or not facts.app_installed or not facts.nginx_listens_on(80):
        return None
    previous = facts.previous_release
    crash = next((line for line in reversed(facts.app_log) if "Error" in line or "Traceback" in line), "")
    seen = _failing_requests(facts)
    if previous is not None:
        return "app-release-crashing", (
            f"{seen}: the app release {facts.app_release or '?'} deployed last does not stay up"
            f"{f' ({crash.strip()})' if crash else ''}; {previous} ran before it"
        )
    return "app-not-running", f"{seen}: the app behind it is not running"


def _failing_requests(facts: Facts) -> str:
    """What the inside fetches saw fail, in the words of the codes they got (never a code nobody saw)."""
    failing = [(url, code) for url, code in facts.local_status if code != "200"]
    if not failing:
        return "requests to the app fail"
    said = ", ".join(f"{'no answer' if code == '000' else code} from {url}" for url, code in failing)
    return f"inside the server: {said}"


def _healthy(facts: Facts) -> Finding | None:
    if (
        _serving(facts)
        and facts.service_running
        and facts.nginx_listens_on(80)
        and not facts.dangling_links()
        and facts.local("http://127.0.0.1/") in (None, "200")
    ):
        return HEALTHY, "nginx runs under its service, its config passes, and it serves its site on port 80"
    return None


# Order matters: a rule may assume the ones before it did not match (a hung
# nginx is not "running", a squatter explains a failed start, and so on).
# Healthy comes last, so it only speaks when no fault rule fits.
RULES: list[Rule] = [
    _nginx_hung,
    _port_squatted,
    _log_dir_missing,
    _dangling_site_link,
    _config_invalid,
    _latent_config_invalid,
    _nginx_crashed,
    _nginx_not_running,
    _stale_site_copy,
    _site_not_enabled,
    _config_not_loaded,
    _firewall_blocks_port,
    _web_root_unreadable,
    _index_missing,
    _fd_limit_too_low,
    _app_down,
    _healthy,
]

_DECOY = re.compile(r"error|exception|refused|timed out|traceback|fatal", re.IGNORECASE)


def set_aside(facts: Facts, cause: str) -> list[str]:
    """Alarming signals that do not explain CAUSE, and why: what responders chase first.

    Only what the checks disprove is ruled out: app errors and a recent deploy
    are set aside when the app itself answers inside the server.
    """
    if cause in (HEALTHY, "app-release-crashing", "app-not-running"):
        return []
    if facts.local(APP_URL) != "200":
        return []
    notes = []
    errors = [line for line in facts.app_log if _DECOY.search(line)]
    if errors:
        notes.append(
            f"ruled out: {len(errors)} alarming lines in /var/log/app/app.log (last: {errors[-1].strip()[:120]}); "
            f"the app answers on {APP_URL}, so they do not explain {cause}"
        )
    if facts.deploys and "previous none" not in facts.deploys[-1]:
        notes.append(f"ruled out: the recent app deploy ({facts.deploys[-1]}); the app answers on {APP_URL}")
    return notes
