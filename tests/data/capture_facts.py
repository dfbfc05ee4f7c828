"""Refresh the doctor's test data: the raw output of its two round trips on real, broken targets.

Run after changing docker/, the collection script or a unit's collect lines:
    .venv/bin/python tests/data/capture_facts.py [SCENARIO ...]
Each scenario's faulty target is captured as facts-<scenario>.txt, and an
unbroken one as facts-healthy.txt; tests/test_doctor.py diagnoses them without
Docker. The first line records what the probe saw, when it failed; the next names the gathering programs'
digest (a test fails when it is not the shipped programs'):
    # measured: PATH<TAB>WHAT THE PROBE SAID
    # script: SHA256
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.doctor import gather, script_digest
from harness.drill import _replay
from harness.probe import Probe
from harness.semantics import Request
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
                probe = Probe(target.url)
                sample = probe.sample()
                probe.close()
                requests = () if sample.ok else (Request(sample.path),)
                gathered = gather(target, requests, replay=_replay(target))
            header = "" if sample.ok else f"# measured: {sample.path}\tthe probe: {sample.detail}\n"
            header += f"# script: {script_digest()}\n"
            (HERE / f"facts-{name}.txt").write_text(header + gathered.text)
            print(f"captured facts-{name}.txt")


if __name__ == "__main__":
    main(sys.argv[1:])
