"""What a client sees when port 80 is broken."""

from __future__ import annotations

from enum import StrEnum

from harness.probe import Outcome


class Symptom(StrEnum):
    REFUSED = "refused"  # refused or reset: nothing listens behind the port
    TIMEOUT = "timeout"
    HTTP_4XX = "http-4xx"
    HTTP_5XX = "http-5xx"
    NOT_OUR_SERVER = "not-our-server"

    @classmethod
    def of(cls, outcome: Outcome) -> Symptom:
        if outcome is Outcome.OK:
            raise ValueError("ok is not a symptom")
        return cls(outcome.value)
