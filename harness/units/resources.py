"""Units about limits: open files and worker connections (which show under load), and nginx's own rate limits."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.command import ExecResult
from harness.errors import RemedyError
from harness.target import Target
from harness.units import bring_up, changed_config_files, restore_from_record, reverting, serving

if TYPE_CHECKING:
    from harness.doctor import Diagnosis

NOT_ENOUGH = "worker_connections are not enough"
_LIMITING = ("limiting requests", "limiting connections")  # what nginx logs when limit_req / limit_conn rejects
_LIMIT_ADVICE = "raise the rate or burst of the limit named above, or exempt monitoring, then `nginx -t` and reload"


TOO_MANY_FILES = "(24: Too many open files)"


def _fd_limit(ctx: Context) -> Finding | None:
    """An open-files limit below what nginx allows itself, or nginx saying in its log that it hit the limit."""
    facts = ctx.facts
    limit, wanted = facts.open_files_limit, facts.worker_connections
    # Workers that died of the limit at start (epoll_create) leave only the master's limit to read: the directive
    # says what every new worker gets.
    rlimit = facts.config.value("worker_rlimit_nofile")
    if rlimit is not None and rlimit.isdigit():
        limit = min(limit, int(rlimit)) if limit is not None else int(rlimit)
    hit = [line for line in facts.current_errors() if TOO_MANY_FILES in line]
    hit += [step.detail for _, step in ctx.broken("answer") if step.kind == "too-many-files"]
    if not serving(facts) or not (hit or (limit is not None and wanted is not None and limit < wanted)):
        return None
    said = f"nginx may open only {limit} files" if limit is not None else "nginx runs out of open files"
    said += _fd_source(ctx)
    if limit is not None and wanted is not None and limit < wanted:
        said += f" but allows {wanted} connections per worker"
    if hit:
        return Finding(f"{said}, and it runs out: {hit[-1].strip()[:200]}")
    return Finding(f"{said}: requests fail under concurrent load")


def _fd_source(ctx: Context) -> str:
    """Where the limit comes from, as far as the server says: the init script's ULIMIT, or worker_rlimit_nofile."""
    facts = ctx.facts
    if facts.ulimit_settings:
        return f" (set by {'; '.join(facts.ulimit_settings)} in /etc/default/nginx)"
    rlimit = facts.config.directive("worker_rlimit_nofile")
    if rlimit is not None and rlimit.args:
        return f" (set by worker_rlimit_nofile {rlimit.args[0]} at {rlimit.where})"
    return ""


def _lift_fd_limit(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    if not facts.ulimit_settings:
        # worker_rlimit_nofile, or anything else in nginx's own files: what changed since the healthy check goes back.
        return _revert_fd_limit(target, diagnosis)
    comment_out = r"s/^\([[:space:]]*ULIMIT=.*\)$/# \1  # disabled: below worker_connections/"
    steps = [target.exec(["sed", "-i", comment_out, "/etc/default/nginx"], check=True)]
    # A running master keeps its limit through a reload; only a restart applies the new one.
    return [*steps, *bring_up(target, facts, restart=True)]


_revert_fd_limit = reverting("raise the open-files limit where nginx starts (worker_rlimit_nofile, ULIMIT or the unit)")


def _worker_connections(ctx: Context) -> Finding | None:
    facts = ctx.facts
    directive = facts.config.worker_connections
    said = [line for line in facts.error_log if NOT_ENOUGH in line]
    if not serving(facts) or not (said or (ctx.measured and any("load burst" in m for m in ctx.measured))):
        return None
    from harness.facts import number

    value = number(directive.args[0]) if directive is not None and directive.args else None
    if value is not None and value >= 512:
        return None  # a generous limit: old "not enough" lines in the log are from before it was raised
    where = f" ({directive.where})" if directive is not None else ""
    return Finding(
        f"nginx runs out of connections under load: worker_connections is {value if value is not None else '?'}"
        f"{where}" + (f"; error.log: {said[-1].strip()[:160]}" if said else "")
    )


def _restore_worker_connections(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    changed = changed_config_files(diagnosis)
    if not changed:
        raise RemedyError(f"{diagnosis.summary}: raise worker_connections there, then `nginx -t` and reload")
    return restore_from_record(target, diagnosis, changed)


FD_LIMIT_TOO_LOW = Cause(
    "fd-limit-too-low",
    _fd_limit,
    order=150,
    area="resources",
    measures=("Size the open-files limit above worker_connections; load-test after changing limits.",),
    remedy=_lift_fd_limit,
    log_patterns=((r"\(24: Too many open files\)", "worker_rlimit_nofile"),),
)


def _rate_limited(ctx: Context) -> Finding | None:
    """Requests failing with 4xx/5xx on a path under limit_req or limit_conn, while nginx logs that it rejects."""
    from harness.semantics import choose_location, choose_server, innermost

    # The doctor's own requests come from inside (loopback) and are never paced: nginx refusing those is harness's
    # footprint, not the site's (the probe and bursts from outside stay within the limits, harness.footprint).
    said = [
        line
        for line in ctx.facts.error_log
        if any(word in line for word in _LIMITING) and not re.search(r"client: (127\.|::1\b)", line)
    ]
    if not serving(ctx.facts) or not said:
        return None
    model = ctx.facts.config
    for trace in ctx.traces:
        if trace.request.symptom not in ("http-4xx", "http-5xx"):
            continue
        server = choose_server(model, trace.request)
        location = choose_location(server, trace.request.path) if server is not None else None
        limits = innermost(model, server, location, ("limit_req", "limit_conn")) if server is not None else []
        if limits:
            limit = limits[0]
            return Finding(
                f"nginx turns requests away by its own limit: {trace.label()}: {limit.name} {' '.join(limit.args)} "
                f"({limit.where}); error.log: {said[-1].strip()[:200]}",
                tuple(f"{d.name} {' '.join(d.args)} ({d.where})" for d in limits),
            )
    return None


WORKER_CONNECTIONS_TOO_LOW = Cause(
    "worker-connections-too-low",
    _worker_connections,
    order=155,
    area="resources",
    measures=("Load-test after changing nginx's limits; alert on 'worker_connections are not enough' in error.log.",),
    remedy=_restore_worker_connections,
    advice="raise worker_connections in the file and line named above, then `nginx -t` and reload",
    log_patterns=((r"worker_connections are not enough", "worker_connections"),),
)
RATE_LIMITED = Cause(
    "rate-limited",
    _rate_limited,
    order=123,  # nginx's preaccess phase: a rejected request never reaches the access rules or a file
    area="resources",
    measures=("Size limit_req rates and bursts from real traffic, exempt health checks, and alert on 503/429 rates.",),
    remedy=reverting(
        "raise the rate or burst of the limit named above (or exempt monitoring), then `nginx -t` and reload"
    ),
    advice="raise the rate or burst of the limit named above, or exempt monitoring, then `nginx -t` and reload",
    log_patterns=((r"limiting requests, excess", "limit_req"), (r"limiting connections by zone", "limit_conn")),
)
