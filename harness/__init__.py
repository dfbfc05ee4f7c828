"""harness: chaos drills for nginx servers.

Start a throwaway nginx target, break it the way real servers break, notice
it from outside, name the cause from inside, repair it, and measure how long
each step took.

The names below are imported on first use, so that `harness --help`, the
pytest plugin and a scenario plugin's `import harness.scenario` do not pay
for the Docker SDK.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.catalogue import load_catalogue
    from harness.drill import Drill, DrillInterrupted, DrillOptions
    from harness.errors import HarnessError
    from harness.outcome import Result, Verdict
    from harness.scenario import Scenario
    from harness.session import Session
    from harness.symptom import Symptom
    from harness.target import Target

__version__ = "0.1.0"

_WHERE = {
    "Drill": "harness.drill",
    "DrillInterrupted": "harness.drill",
    "DrillOptions": "harness.drill",
    "Result": "harness.outcome",
    "Verdict": "harness.outcome",
    "HarnessError": "harness.errors",
    "Scenario": "harness.scenario",
    "load_catalogue": "harness.catalogue",
    "Session": "harness.session",
    "Symptom": "harness.symptom",
    "Target": "harness.target",
}
__all__ = [
    "Drill",
    "DrillInterrupted",
    "DrillOptions",
    "HarnessError",
    "Result",
    "Scenario",
    "Session",
    "Symptom",
    "Target",
    "Verdict",
    "load_catalogue",
]


def __getattr__(name: str) -> object:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'harness' has no attribute {name!r}") from None
    return getattr(import_module(module), name)
