"""The repair for a diagnosis: the remedy of the cause unit that named it, never the scenario's.

A unit without a remedy, or one whose remedy cannot act, ends the repair with
advice: what to change by hand, naming the file and line the trace found.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.causes import registry
from harness.doctor import HEALTHY, UNEXPLAINED, Diagnosis
from harness.errors import RemedyError
from harness.target import ExecResult, Target

Remedy = Callable[[Target, Diagnosis], list[ExecResult]]


def _nothing(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return []


def remedy_for(diagnosis: Diagnosis) -> Remedy:
    if diagnosis.cause == HEALTHY:
        return _nothing
    if diagnosis.cause == UNEXPLAINED:
        raise RemedyError(
            f"the doctor could not explain the outage, so nothing was repaired: {diagnosis.summary}; repair it by hand"
        )
    unit = registry().get(diagnosis.cause)
    if unit is None:
        raise RemedyError(f"no remedy is known for cause {diagnosis.cause!r}; repair it by hand")
    if unit.remedy is None:
        where = f" (where the request breaks: {diagnosis.broken_step})" if diagnosis.broken_step else ""
        raise RemedyError(f"{diagnosis.summary}; no safe remedy: {unit.advice or 'repair it by hand'}{where}")
    remedy = unit.remedy

    def guarded(target: Target, found: Diagnosis) -> list[ExecResult]:
        try:
            return remedy(target, found)
        except RemedyError as exc:
            advice = f"; {unit.advice}" if unit.advice and unit.advice not in str(exc) else ""
            raise RemedyError(f"{exc}{advice}") from exc

    return guarded
