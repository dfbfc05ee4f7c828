"""Refresh the doctor's test data: the raw output of its checks on real, broken targets.

Run after changing docker/ or the collect script:
    .venv/bin/python tests/data/capture_facts.py [SCENARIO ...]
Each scenario's faulty target is captured as facts-<scenario>.txt, and an
unbroken one as facts-healthy.txt; tests/test_doctor.py diagnoses them without Docker.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.facts import COLLECT_SCRIPT
from harness.session import Session

HERE = Path(__file__).parent


def main(names: list[str]) -> None:
    with Session(progress=print) as session:
        catalogue = session.catalogue
        for name in names or ["healthy", *catalogue.names()]:
            scenario = None if name == "healthy" else catalogue.get(name)
            caps = scenario.capabilities if scenario else ()
            with session.new_target(capabilities=caps) as target:
                if scenario is not None:
                    scenario.inject(target)
                    time.sleep(0.5)  # let a crash-on-boot release die
                text = target.exec(["sh", "-c", COLLECT_SCRIPT]).stdout
            (HERE / f"facts-{name}.txt").write_text(text)
            print(f"captured facts-{name}.txt")


if __name__ == "__main__":
    main(sys.argv[1:])
