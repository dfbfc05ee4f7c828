"""The repair for a diagnosis: the remedy of the cause unit that named it, never the scenario's.

Where the unit has no remedy, or its remedy cannot act, or no unit explains
the outage (`unexplained`), the general remedy takes over whenever the
known-good record explains the outage: it undoes exactly the differences from
the record that the evidence implicates (harness.undo). Otherwise the repair
ends with advice: what to change by hand, naming the file and line the trace found.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.causes import registry
from harness.command import ExecResult
from harness.doctor import HEALTHY, UNEXPLAINED, UNKNOWN, Diagnosis
from harness.errors import CommandFailed, RemedyError
from harness.target import Target
from harness.undo import explains, undo_remedy

Remedy = Callable[[Target, Diagnosis], list[ExecResult]]


def _nothing(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return []


def remedy_for(diagnosis: Diagnosis) -> Remedy:
    if diagnosis.cause == HEALTHY:
        return _nothing  # a repair never runs on a healthy server
    unit = registry().get(diagnosis.cause)
    if diagnosis.cause in (UNEXPLAINED, UNKNOWN) or unit is None:
        if explains(diagnosis):
            return undo_remedy
        if diagnosis.cause == UNEXPLAINED:
            raise RemedyError(
                f"the doctor could not explain the outage, so nothing was repaired: {diagnosis.summary}; "
                "repair it by hand"
            )
        raise RemedyError(f"no remedy is known for cause {diagnosis.cause!r}; repair it by hand")
    if unit.remedy is None:
        if explains(diagnosis):
            return undo_remedy
        where = f" (where the request breaks: {diagnosis.broken_step})" if diagnosis.broken_step else ""
        raise RemedyError(f"{diagnosis.summary}; no safe remedy: {unit.advice or 'repair it by hand'}{where}")
    remedy = unit.remedy

    def guarded(target: Target, found: Diagnosis) -> list[ExecResult]:
        try:
            steps = remedy(target, found)
            if steps or not explains(found):
                return steps
            raise RemedyError(f"the remedy for {found.cause} had nothing to do")
        except (RemedyError, CommandFailed) as exc:
            # The unit's own remedy could not act: the record may still explain the outage.
            if explains(found):
                try:
                    return undo_remedy(target, found)
                except RemedyError as undone:
                    exc = RemedyError(f"{exc}; and the general undo: {undone}")
            advice = f"; {unit.advice}" if unit.advice and unit.advice not in str(exc) else ""
            raise RemedyError(f"{exc}{advice}") from exc

    return guarded
