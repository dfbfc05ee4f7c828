"""What a client sees when port 80 is broken."""

from __future__ import annotations

from enum import StrEnum

from harness.probe import Outcome


class Symptom(StrEnum):
    # The probe's failing outcomes, with the same names and values (`of` relies on it; a test checks it, and that
    # the scenario schema's enum and the docs' table of symptoms equal this class).
    REFUSED = "refused"  # refused or reset: nothing listens behind the port
    TIMEOUT = "timeout"
    HTTP_4XX = "http-4xx"
    HTTP_5XX = "http-5xx"
    NOT_OUR_SERVER = "not-our-server"
    MISSING_TEXT = "missing-text"
    # Single requests are fine; a burst of concurrent clients sees failures.
    FAILS_UNDER_LOAD = "fails-under-load"
    DEGRADED = FAILS_UNDER_LOAD  # the older name, kept for plugins written against it
    # Port 80 serves, but the server is one restart away from an outage; only the doctor sees it.
    LATENT = "latent"

    @classmethod
    def of(cls, outcome: Outcome) -> Symptom:
        if outcome is Outcome.OK:
            raise ValueError("ok is not a symptom")
        return cls(outcome.value)
