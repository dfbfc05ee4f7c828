"""The record of one drill: events and probe samples on one monotonic clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    TORN_DOWN = "torn-down"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    t: float  # time.monotonic()
    detail: str


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

    def record(self, kind: EventKind, detail: str = "", t: float | None = None) -> Event:
        event = Event(kind, time.monotonic() if t is None else t, detail)
        self.events.append(event)
        if self.observer is not None:
            self.observer(event, event.t - self.t0)
        return event

    def freeze(self, samples: list[Sample]) -> Timeline:
        return Timeline(self.started_at, self.t0, tuple(sorted(self.events, key=lambda e: e.t)), tuple(samples))
