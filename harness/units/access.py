"""Units about nginx's own access rules: a `deny all`, or a password asked of every request.

These are security controls, so no remedy lifts one on its own judgement: it
puts back the configuration files changed since the healthy check (the
change that brought the rule in), and without such a record it names the
line and leaves the decision to a person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.errors import RemedyError
from harness.target import ExecResult, Target
from harness.units import changed_config_files, restore_from_record, serving

if TYPE_CHECKING:
    from harness.doctor import Diagnosis


def _refused(ctx: Context) -> Finding | None:
    found = ctx.broken("access")
    if not serving(ctx.facts) or not found:
        return None
    trace, step = found[0]
    answer = "401 (a password)" if step.kind == "password" else "403"
    changed = [c.subject for c in ctx.changes.of("file-changed", "file-added")]
    since = f"; changed since the healthy check: {', '.join(changed)}" if changed else ""
    return Finding(
        f"nginx answers {answer} by its own access rules: {trace.label()}: {step.detail} ({step.where}){since}",
        tuple(f"{t.label()}: {s.detail} ({s.where})" for t, s in found),
    )


def _revert(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    changed = changed_config_files(diagnosis)
    if not changed:
        raise RemedyError(
            f"{diagnosis.summary}: nothing changed since a healthy check to put back, and an access rule may be "
            "deliberate: allow the clients that must reach it, or remove the rule, then `nginx -t` and reload"
        )
    return restore_from_record(target, diagnosis, changed)


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
)
