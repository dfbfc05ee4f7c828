"""Repairs chosen from a diagnosis, never from the scenario that was injected.

Each remedy is the runbook answer to one cause. It reads what the doctor found
(which site is unlinked, say) and returns the commands it ran, so the report
can show exactly what was done to the server.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.doctor import HEALTHY, Diagnosis
from harness.errors import RemedyError
from harness.target import ExecResult, Target

Remedy = Callable[[Target, Diagnosis], list[ExecResult]]


def _relink_sites(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    sites = diagnosis.facts.unlinked_sites()
    if not sites:
        raise RemedyError("the diagnosis names no unlinked site to link back")
    steps = [target.nginx.enable_site(site) for site in sites]
    steps.append(_required(target.nginx.test_config(), "the config test fails after relinking"))
    steps.append(_required(target.nginx.restart(), "nginx did not restart"))
    return steps


def _start_nginx(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return [_required(target.nginx.start(), "nginx did not start")]


def _nothing(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return []


def _required(result: ExecResult, problem: str) -> ExecResult:
    if not result.ok:
        raise RemedyError(
            f"{problem}: {' '.join(result.argv)} exited {result.exit_code}: {result.output.strip()[-300:]}"
        )
    return result


REMEDIES: dict[str, Remedy] = {
    HEALTHY: _nothing,
    "site-not-enabled": _relink_sites,
    "nginx-not-running": _start_nginx,
}


def remedy_for(diagnosis: Diagnosis) -> Remedy:
    try:
        return REMEDIES[diagnosis.cause]
    except KeyError:
        raise RemedyError(f"no remedy is known for cause {diagnosis.cause!r}; repair it by hand") from None
