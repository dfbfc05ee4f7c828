"""harness: chaos drills for nginx servers.

Start a throwaway nginx target, break it the way real servers break, notice
it from outside, name the cause from inside, repair it, and measure how long
each step took.
"""

from harness.drill import Drill, DrillInterrupted, DrillOptions, Result, Verdict
from harness.errors import HarnessError
from harness.scenario import Scenario, load_catalogue
from harness.session import Session
from harness.symptom import Symptom
from harness.target import Target

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
__version__ = "0.1.0"
