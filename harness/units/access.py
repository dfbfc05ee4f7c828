"""Units about answers nginx's own configuration gives: access rules, and a `return` of an error.

A `deny all`, a password asked of every request, a maintenance `return 503`
left in place: each may be deliberate, so no remedy lifts one on its own
judgement. It puts back the configuration files changed since the healthy
check (the change that brought the rule in), or moves aside a file whose
appearance since then switched a maintenance page on; without such a change
it names the line and leaves the decision to a person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.server_paths import BACKUP_DIR
from harness.units import changed_config_files, reverting, serving, stamp

if TYPE_CHECKING:
    from harness.command import ExecResult
    from harness.doctor import Diagnosis
    from harness.target import Target


def _refused(ctx: Context) -> Finding | None:
    found = ctx.broken("access")
    if not serving(ctx.facts) or not found:
        return None
    trace, step = found[0]
    answer = "401 (a password)" if step.kind == "password" else "403"
    return Finding(
        f"nginx answers {answer} by its own access rules: {trace.label()}: {step.detail} ({step.where}){_changed(ctx)}",
        tuple(f"{t.label()}: {s.detail} ({s.where})" for t, s in found),
    )


def _returns_error(ctx: Context) -> Finding | None:
    found = ctx.broken("return")
    if not serving(ctx.facts) or not found:
        return None
    trace, step = found[0]
    return Finding(
        f"nginx's configuration itself answers the request, instead of serving it: {trace.label()}: {step.detail} "
        f"({step.where}){_changed(ctx)}",
        tuple(f"{t.label()}: {s.detail} ({s.where})" for t, s in found),
    )


def _changed(ctx: Context) -> str:
    changed = [c.subject for c in ctx.changes.of("file-changed", "file-added", "path-added")]
    return f"; changed since the healthy check: {', '.join(changed)}" if changed else ""


_DELIBERATE = "the rule may be deliberate: change or remove the line named above, then `nginx -t` and reload"
# The rule may be deliberate: without a change to undo, a person decides.
_revert = reverting(_DELIBERATE)


def _undo_what_made_it_answer(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    """A configuration change since the healthy check goes back. Else, a file whose appearance since then makes an
    `if (-f …)` return the error (a maintenance page switched on) is moved aside, never deleted."""
    context = diagnosis.context
    if changed_config_files(diagnosis):
        return _revert(target, diagnosis)
    added = {c.subject for c in context.changes.of("path-added")}
    appeared = sorted(
        {step.subject for _, step in context.broken("return") if step.kind == "conditional" and step.subject in added}
    )
    if not appeared:
        return _revert(target, diagnosis)
    steps: list[ExecResult] = []
    for path in appeared:
        keep = f"{BACKUP_DIR}/moved-aside/{stamp()}{path}"
        steps.append(target.exec(["mkdir", "-p", "--", keep.rsplit("/", 1)[0]], check=True))
        steps.append(target.exec(["mv", "--", path, keep], check=True))
    return steps


ACCESS_REFUSED = Cause(
    "access-refused",
    _refused,
    order=125,  # nginx's access phase comes before it looks for a file or an upstream
    area="config",
    measures=(
        "Review access rules (allow/deny, auth_basic) in config changes like code, and probe pages from outside "
        "after every reload.",
    ),
    remedy=_revert,
    advice="allow the clients that must reach it, or remove the rule named above, then `nginx -t` and reload",
    log_patterns=(
        (r"access forbidden by rule", "deny"),
        (
            r"no user/password was provided for basic authentication|user \".*\" was not found in|"
            r"user \".*\": password mismatch",
            "auth_basic",
        ),
    ),
)
RETURNS_ERROR = Cause(
    "config-returns-error",
    _returns_error,
    order=124,  # the rewrite phase (`return`) comes before the access phase
    area="config",
    measures=("Give maintenance pages an owner and an end time, and probe pages from outside after every reload.",),
    remedy=_undo_what_made_it_answer,
    advice="remove or change the `return` named above (a maintenance page left on?), then `nginx -t` and reload",
)
