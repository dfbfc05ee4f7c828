"""Hints for a rehearsal: the doctor's findings, revealed a step at a time.

The first hints point where to look, the last names the cause, so a team
that asks for one hint still has to do most of the finding itself. The
evidence carries its area as data (harness.causes.AREAS), so hints group by
it rather than by matching words.
"""

from __future__ import annotations

from harness.causes import AREAS
from harness.doctor import Diagnosis


def hints_for(diagnosis: Diagnosis) -> list[str]:
    """Hints from the examination made right after the fault went in (blind to the scenario)."""
    hints = []
    if diagnosis.ruled_out:
        # The doctor's notes name the cause they set aside signals for; a first hint must not.
        set_aside = (line.replace(diagnosis.cause, "this outage") for line in diagnosis.ruled_out)
        hints.append("Not everything alarming is the cause: " + "; ".join(set_aside))
    ruled_out = set(diagnosis.ruled_out)
    for area, words in AREAS.items():
        lines = [o.text for o in diagnosis.observed if o.area == area and o.text not in ruled_out]
        # A line that would say the cause's own words gives it away: keep those for the last hint.
        lines = [line for line in lines if diagnosis.cause not in line and not line.startswith("also fits")]
        if lines:
            hints.append(f"Look at {words}: " + "; ".join(lines))
    hints.append(f"The doctor's conclusion: {diagnosis.cause}: {diagnosis.summary}")
    return hints
