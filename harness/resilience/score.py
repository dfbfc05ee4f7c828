"""The resilience score: what each scenario's newest drill earns, averaged over the scenarios drilled.

    withstood                         100   the steady state held under the fault (on harness's own test server:
                                            not scored, the scenario broke nothing)
    recovered in time to recover T    50 + 50 * min(1, target / T)   100 within the target, towards 50 as it slows
    not recovered, not detected         0   the site stayed down, or harness could not see the fault
    error, not steady, interrupted    not scored: harness did not measure the site (counted apart, never as 0)

The reasons are in docs/report.md, beside Gremlin's and Litmus's formulas.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTCOMES = ("withstood", "recovered", "not-recovered", "not-detected", "not-scored")
DEFAULT_TARGET_S = 10.0
FORMULA = (
    "score = mean over scenarios of the newest drill's points: withstood 100 (on harness's test server, a scenario "
    "that broke nothing: not scored); "
    "recovered 50 + 50 × min(1, target ÷ time to recover); not recovered or not detected 0; "
    "error, not steady and interrupted drills are not scored"
)


def outcome(verdict: str) -> str:
    """The matrix column of a verdict: harness's own failures are not an outcome of the site."""
    return verdict if verdict in OUTCOMES else "not-scored"


def points(
    verdict: str, time_to_recover: float | None, target: float = DEFAULT_TARGET_S, own_server: bool = False
) -> float | None:
    """What one drill earns (None: not scored). On harness's own test server a withstood fault is a scenario that
    broke nothing: a fault of the catalogue, not a strength of the server, so it is not scored."""
    kind = outcome(verdict)
    if kind == "withstood":
        return None if own_server else 100.0
    if kind == "recovered":
        if time_to_recover is None or time_to_recover <= 0:
            return 100.0
        return 50.0 + 50.0 * min(1.0, target / time_to_recover)
    if kind in ("not-recovered", "not-detected"):
        return 0.0
    return None


@dataclass(frozen=True)
class Score:
    value: float | None  # None: nothing scored
    scored: int
    not_scored: int

    @classmethod
    def of(
        cls, drills: list[tuple[str, float | None]], target: float = DEFAULT_TARGET_S, own_server: bool = False
    ) -> Score:
        """DRILLS: (verdict, time to recover) of each scenario's newest drill."""
        earned = [points(verdict, ttr, target, own_server) for verdict, ttr in drills]
        scored = [p for p in earned if p is not None]
        value = round(sum(scored) / len(scored), 1) if scored else None
        return cls(value, len(scored), len(earned) - len(scored))
