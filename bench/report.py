"""What the resilience report costs: seconds to draw and bytes of page, for a catalogue on one and on three sites.

    .venv/bin/python bench/report.py [--runs N]

The history is synthetic (25 scenarios, N runs each, one drill timeline per run), written to a temporary SQLite
file and read back as `harness report` reads it. The goal: a catalogue's page under 1 MB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from harness.history import ResultStore, Run
from harness.resilience.make import make

SKETCH = {
    "declared_cause": "site-not-enabled",
    "cause_correct": True,
    "diagnosis": "site-not-enabled",
    "evidence": ["port 80: nothing listens", "nginx -t: passes"],
    "broken_step": {"step": "socket", "detail": "nothing listens on port 80", "where": None},
    "phases": [
        ["steady", 0.1, 0.6, True],
        ["steady/doctor", 0.1, 0.5, True],
        ["inject", 0.6, 0.9, True],
        ["detect", 0.9, 1.0, True],
        ["diagnose", 1.0, 1.6, True],
        ["repair", 1.6, 1.8, True],
        ["verify", 1.8, 2.4, True],
    ],
    "events": [["injected", 0.6, ""], ["detected", 0.65, ""], ["diagnosed", 1.6, ""], ["recovered", 1.9, ""]],
    "probe": [["ok", 10, 0.1, 0.6], ["refused", 25, 0.65, 1.85], ["ok", 10, 1.9, 2.4]],
}


def history(store: ResultStore, sites: int, runs: int) -> None:
    for site in range(sites):
        digest = f"{site:016x}" if site else ""
        for run in range(runs):
            for n in range(25):
                store.append(
                    Run(
                        "drill",
                        f"scenario-{n:02d}",
                        "recovered",
                        True,
                        0.1 + n / 100,
                        1.0 + n / 10 + run / 50,
                        3.0,
                        run_id=f"{site}-{run}",
                        recorded_at=f"2026-11-{1 + run % 28:02d}T10:{n:02d}:00.000+00:00",
                        detail=json.dumps(SKETCH),
                        site=digest,
                        site_name=f"site-{site}" if site else "",
                        image="harness-target:bench",
                    )
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of the catalogue per site")
    args = parser.parse_args()
    print(f"{'sites':>5} {'drills':>7} {'seconds':>8} {'page KB':>8} {'json KB':>8} {'md lines':>8}")
    for sites in (1, 3):
        with tempfile.TemporaryDirectory() as folder:
            store = ResultStore(Path(folder) / "results.sqlite")
            history(store, sites, args.runs)
            began = time.perf_counter()
            _, written = make(store, Path(folder) / "out")
            took = time.perf_counter() - began
            page, markdown, data = written
            print(
                f"{sites:>5} {sites * 25 * args.runs:>7} {took:>8.2f} {page.stat().st_size / 1024:>8.0f} "
                f"{data.stat().st_size / 1024:>8.0f} {len(markdown.read_text().splitlines()):>8}"
            )


if __name__ == "__main__":
    main()
