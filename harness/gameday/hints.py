"""Hints for a rehearsal: the doctor's findings, revealed a step at a time.

The first hints point where to look, the last names the cause, so a team
that asks for one hint still has to do most of the finding itself.
"""

from __future__ import annotations

from harness.doctor import Diagnosis

# Observation prefixes grouped by where a responder would look, in the order they are revealed.
_AREAS = (
    ("the nginx process and its service", ("nginx master process", "service nginx status")),
    ("nginx's configuration and enabled sites", ("nginx -t", "sites-available", "sites-enabled")),
    ("who holds port 80, and the firewall", ("port 80", "firewall")),
    ("files nginx serves and its limits", ("document root", "open files limit")),
    ("the app behind /app/", ("app service", "last app deploy", "inside the server")),
)


def hints_for(diagnosis: Diagnosis) -> list[str]:
    """Hints from the examination made right after the fault went in (blind to the scenario)."""
    hints = []
    if diagnosis.ruled_out:
        # The doctor's notes name the cause they set aside signals for; a first hint must not.
        set_aside = (line.replace(diagnosis.cause, "this outage") for line in diagnosis.ruled_out)
        hints.append("Not everything alarming is the cause: " + "; ".join(set_aside))
    for area, prefixes in _AREAS:
        lines = [line for line in diagnosis.evidence if line.startswith(prefixes)]
        if lines:
            hints.append(f"Look at {area}: " + "; ".join(lines))
    hints.append(f"The doctor's conclusion: {diagnosis.cause}: {diagnosis.summary}")
    return hints
