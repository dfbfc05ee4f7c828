"""The record of one drill: events and probe samples on one monotonic clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import groupby

from harness.probe import Outcome, Sample


class EventKind(StrEnum):
    TARGET_STARTED = "target-started"
    STEADY = "steady"
    INJECTED = "injected"
    LOAD_TESTED = "load-tested"
    DETECTED = "detected"
    DIAGNOSED = "diagnosed"
    REPAIR_STARTED = "repair-started"
    REPAIRED = "repaired"  # the repair's commands returned; service may have come back before that
    RECOVERED = "recovered"
    WITHSTOOD = "withstood"  # the steady state held under the fault, all of the detection window
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    TORN_DOWN = "torn-down"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    t: float  # time.monotonic()
    detail: str


# The phases of a drill, in order; each is timed as a span (journal entries, OpenTelemetry spans, the benchmark).
PHASES = ("start", "steady", "inject", "detect", "diagnose", "repair", "verify", "teardown")


@dataclass(frozen=True)
class Phase:
    name: str
    start: float  # time.monotonic()
    end: float
    ok: bool = True  # False when the phase ended in an exception (the drill stopped inside it)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class OutcomeRun:
    """Consecutive samples with the same outcome, for compact reports."""

    outcome: Outcome
    count: int
    start: float
    end: float


@dataclass(frozen=True)
class Timeline:
    started_at: datetime  # wall clock, UTC, at t0
    t0: float
    events: tuple[Event, ...]
    samples: tuple[Sample, ...]
    phases: tuple[Phase, ...] = ()

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    def wall(self, t: float) -> datetime:
        """The wall-clock time of a monotonic instant of this drill."""
        return self.started_at + timedelta(seconds=t - self.t0)

    def at(self, kind: EventKind) -> Event | None:
        return next((e for e in self.events if e.kind is kind), None)

    def offset(self, t: float) -> float:
        return t - self.t0

    def outcome_runs(self) -> list[OutcomeRun]:
        runs = []
        for outcome, group in groupby(self.samples, key=lambda s: s.outcome):
            items = list(group)
            runs.append(OutcomeRun(outcome, len(items), items[0].t, items[-1].t))
        return runs


@dataclass
class Recorder:
    """Builds a Timeline as the drill goes, telling an observer about each event."""

    observer: Callable[[Event, float], None] | None = None
    t0: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    events: list[Event] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)

    def add_phase(self, name: str, start: float, end: float, ok: bool = True) -> None:
        """A phase timed elsewhere (on another thread)."""
        self.phases.append(Phase(name, start, end, ok))

    @contextmanager
    def phase(self, name: str, since: float | None = None) -> Iterator[None]:
        """Time one phase of the drill (from `since` if it began earlier); one left by an exception is kept,
        marked not ok."""
        start = time.monotonic() if since is None else since
        ok = False
        try:
            yield
            ok = True
        finally:
            self.phases.append(Phase(name, start, time.monotonic(), ok))

    def record(self, kind: EventKind, detail: str = "", t: float | None = None) -> Event:
        event = Event(kind, time.monotonic() if t is None else t, detail)
        self.events.append(event)
        if self.observer is not None:
            self.observer(event, event.t - self.t0)
        return event

    def freeze(self, samples: list[Sample]) -> Timeline:
        return Timeline(
            self.started_at,
            self.t0,
            tuple(sorted(self.events, key=lambda e: e.t)),
            tuple(samples),
            tuple(sorted(self.phases, key=lambda p: p.start)),
        )
