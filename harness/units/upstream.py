"""Units about what nginx proxies to: an upstream that does not answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.command import ExecResult
from harness.errors import RemedyError
from harness.target import Target
from harness.units import changed_config_files, required, restore_from_record, serving

if TYPE_CHECKING:
    from harness.doctor import Diagnosis


def _unreachable(ctx: Context) -> Finding | None:
    from harness.trace import dead_upstreams

    broken = [step for _, step in ctx.broken("upstream")]
    if not serving(ctx.facts):
        return None
    if not broken:
        # No failing request went there, but a location the configuration proxies has no upstream answering:
        # evidence of a fault on a path no probe uses, named with its line.
        dead = dead_upstreams(ctx.facts)
        if not dead:
            return None
        location, step = dead[0]
        label = f"location {location.modifier} {location.path}".replace("  ", " ")
        return Finding(
            f"requests proxied by nginx for {label} fail: {step.detail} ({step.where}); no failing request "
            "was measured there",
            tuple(f"upstream without an answer: {s.detail} ({s.where})" for _, s in dead),
        )
    step = broken[0]
    stopped = [c.subject for c in ctx.changes.of("service-stopped")]
    also = f"; stopped since the healthy check: {', '.join(stopped)}" if stopped else ""
    return Finding(f"requests proxied by nginx fail: {step.detail} ({step.where}){also}")


def _reconnect(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    """What changed decides: a proxy line edited since the healthy check goes back; a stopped service starts."""
    changed = changed_config_files(diagnosis)
    if changed:
        return restore_from_record(target, diagnosis, changed)
    context = diagnosis.context
    stopped = [c.subject for c in context.changes.of("service-stopped")]
    if not stopped:
        raise RemedyError(f"{diagnosis.summary}: start the service that should answer there, or point the proxy at it")
    return [required(target.exec(["service", name, "start"]), f"service {name} did not start") for name in stopped]


UPSTREAM_UNREACHABLE = Cause(
    "upstream-unreachable",
    _unreachable,
    order=170,
    area="upstream",
    measures=("Health-check upstreams and alert on 502s per location, not only on the site's front page.",),
    remedy=_reconnect,
    advice="start what should listen at the upstream named above, or point proxy_pass at where it listens",
    log_patterns=(
        (
            r"connect\(\) (to \S+ )?failed \((111: Connection refused|13: Permission denied|113: No route to host|"
            r"2: No such file or directory)\) while connecting to upstream|upstream timed out|no live upstreams|"
            r"upstream prematurely closed|could not be resolved",
            "proxy_pass|fastcgi_pass|uwsgi_pass|scgi_pass|grpc_pass|memcached_pass",
        ),
    ),
)
