"""harness's own footprint: the CPU one probe sample costs over HTTP and over HTTPS, and the CPU one drill costs.

    .venv/bin/python bench/footprint.py [--samples N] [--drills SCENARIO ...] [--site DIR]

Prints one JSON line per figure. The probe figures sample each of a TLS site's probes (tests/sites/tls: a 301 on
port 80, the page on 443) N times on a fresh target, a fresh connection per sample as monitoring makes; the
drill figures run `harness drill SCENARIO --site DIR` as a child process and read its CPU time (user + system,
every thread) from the kernel. A figure, not a test: the machine's load moves it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time
from pathlib import Path

from harness.probe import Probe
from harness.session import Session
from harness.site import load_site

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(ROOT / ".venv" / "bin" / "harness")


def _cpu_self() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _cpu_children() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def probe_samples(samples: int) -> None:
    with Session(site=load_site(ROOT / "tests" / "sites" / "tls")) as session, session.new_target() as target:
        for check in target.checks:
            probe = Probe(target.url, 1.0, (check,), target.tls_url)
            for _ in range(5):  # the first connection pays for imports and the pool
                probe.sample()
            cpu, wall = _cpu_self(), time.monotonic()
            ok = sum(probe.sample().ok for _ in range(samples))
            figure = {
                "figure": "probe-sample",
                "scheme": check.scheme,
                "request": check.label(),
                "samples": samples,
                "ok": ok,
                "cpu_ms_per_sample": round(1000 * (_cpu_self() - cpu) / samples, 3),
                "wall_ms_per_sample": round(1000 * (time.monotonic() - wall) / samples, 3),
            }
            print(json.dumps(figure), flush=True)
            probe.close()


def drill_cpu(scenario: str, site: str) -> None:
    cpu, wall = _cpu_children(), time.monotonic()
    done = subprocess.run(
        [HARNESS, "drill", scenario, "--site", site, "--json"], capture_output=True, text=True, env=os.environ
    )
    took, used = time.monotonic() - wall, _cpu_children() - cpu
    verdict = json.loads(done.stdout)["results"][0]["verdict"] if done.stdout.strip() else f"exit {done.returncode}"
    figure = {
        "figure": "drill-cpu",
        "scenario": scenario,
        "site": site,
        "verdict": verdict,
        "cpu_s": round(used, 2),
        "wall_s": round(took, 2),
        "cpu_share": round(used / took, 3),
    }
    print(json.dumps(figure), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--drills", nargs="*", default=["nginx-stopped", "fd-limit"])
    parser.add_argument("--site", default=str(ROOT / "tests" / "sites" / "tls"))
    args = parser.parse_args()
    probe_samples(args.samples)
    for scenario in args.drills:
        drill_cpu(scenario, args.site)


if __name__ == "__main__":
    main()
