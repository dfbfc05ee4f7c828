"""The soak: many drills of random scenarios back to back, watching harness itself.

After every drill it looks for what a long-running harness must not
accumulate: containers of its run, open file descriptors, threads, and
resident memory. Failures are drills that did not pass; leaks are any of
those that grow.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.drill import Drill, DrillOptions
from harness.outcome import Result
from harness.session import Session

FLAT_MB = 10.0  # resident memory may wander this much after warm-up and still be flat
WARM_UP = 0.25  # the first quarter of the run fills caches, pools and imports


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass(frozen=True)
class Sample:
    number: int
    scenario: str
    passed: bool
    verdict: str
    duration: float
    rss_mb: float
    fds: int
    threads: int
    containers_left: int


@dataclass
class SoakReport:
    seed: int
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0

    @property
    def leaked_containers(self) -> int:
        return sum(s.containers_left for s in self.samples)

    def _after_warm_up(self) -> list[Sample]:
        return self.samples[int(len(self.samples) * WARM_UP) :] or self.samples

    @property
    def fd_growth(self) -> int:
        kept = self._after_warm_up()
        return kept[-1].fds - kept[0].fds if kept else 0

    @property
    def thread_growth(self) -> int:
        kept = self._after_warm_up()
        return kept[-1].threads - kept[0].threads if kept else 0

    @property
    def memory_growth_mb(self) -> float:
        """Median RSS of the last fifth against the median of the fifth after warm-up."""
        kept = self._after_warm_up()
        fifth = max(1, len(kept) // 5)
        return statistics.median(s.rss_mb for s in kept[-fifth:]) - statistics.median(s.rss_mb for s in kept[:fifth])

    @property
    def memory_flat(self) -> bool:
        return self.memory_growth_mb <= FLAT_MB

    @property
    def leaks(self) -> list[str]:
        found = []
        if self.leaked_containers:
            found.append(f"{self.leaked_containers} containers outlived their drills")
        if self.fd_growth > 2:
            found.append(f"open file descriptors grew by {self.fd_growth}")
        if self.thread_growth > 0:
            found.append(f"threads grew by {self.thread_growth}")
        return found

    @property
    def ok(self) -> bool:
        return not self.failures and not self.leaks and self.memory_flat


def soak(
    session: Session,
    count: int,
    seed: int | None = None,
    options: DrillOptions | None = None,
    names: list[str] | None = None,
    progress: Callable[[Sample, Result], None] = lambda sample, result: None,
) -> SoakReport:
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    chooser = random.Random(seed)
    pool = names or session.catalogue.names()
    report = SoakReport(seed)
    started = time.monotonic()
    for number in range(1, count + 1):
        scenario = session.catalogue.get(chooser.choice(pool))
        result = Drill(session, scenario, options=options).run()
        sample = Sample(
            number=number,
            scenario=scenario.name,
            passed=result.passed,
            verdict=result.verdict.value,
            duration=result.duration,
            rss_mb=rss_mb(),
            fds=open_fds(),
            threads=threading.active_count(),
            containers_left=len(session.leftovers()),
        )
        report.samples.append(sample)
        if not result.passed:
            report.failures.append(f"#{number} {scenario.name}: {'; '.join(result.problems())}")
        progress(sample, result)
    report.wall = time.monotonic() - started
    return report
