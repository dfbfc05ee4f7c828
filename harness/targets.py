"""Where a drill gets its target and where it leaves it: a fresh one per drill, or one started ahead of time.

A drill asks its TargetSource for a target (`take`) and gives it back when it
ends (`give_back`). The plain source starts a target when asked and removes it
when given back, in the drill's own time. A catalogue run uses WarmTargets:
while drills run, the targets of the next scenarios start in the background,
and given-back targets are removed in the background too, so that the
catalogue does not wait for container starts and removals one drill at a
time. Either way every target belongs to the session's run and nothing
outlives the session.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Protocol

from harness.errors import HarnessError
from harness.signals import background

if TYPE_CHECKING:
    from harness.scenario import Scenario
    from harness.session import Session
    from harness.target import Target

log = logging.getLogger(__name__)


class TargetSource(Protocol):
    def take(self, scenario: Scenario, image: str) -> Target:
        """A target for SCENARIO on IMAGE: unstarted (the drill starts it) or already serving."""

    def give_back(self, target: Target) -> None:
        """The drill is done with TARGET: remove it (now, or soon)."""


class FreshTargets:
    """A new target per drill, started by the drill and removed before the drill ends."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def take(self, scenario: Scenario, image: str) -> Target:
        return self.session.new_target(
            capabilities=scenario.capabilities, labels={"harness.scenario": scenario.name}, image=image
        )

    def give_back(self, target: Target) -> None:
        target.stop()


class WarmTargets:
    """Targets for the scenarios to come, started AHEAD at a time in the background, in the order given.

    `close` stops the starter, removes the warm targets no drill took, and
    waits for the removals given back: call it before the session's own
    sweep, and on Ctrl-C before anything else.
    """

    def __init__(self, session: Session, scenarios: list[Scenario], image: str, ahead: int) -> None:
        self.fresh = FreshTargets(session)
        self.image = image
        self._queue = deque(scenarios)
        self._starting = ""  # the scenario whose target is being started now
        self._ready: dict[str, Target] = {}
        self._failed: dict[str, BaseException] = {}
        self._removals: list[threading.Thread] = []
        self._ahead = max(1, ahead)
        self._changed = threading.Condition()
        self._closed = False
        self._starter = background(self._start_ahead, name="harness-warm")
        self._starter.start()

    def _start_ahead(self) -> None:
        while True:
            with self._changed:
                while not self._closed and self._queue and len(self._ready) >= self._ahead:
                    self._changed.wait()
                if self._closed or not self._queue:
                    return
                scenario = self._queue.popleft()
                self._starting = scenario.name
            target = self.fresh.take(scenario, self.image)
            failure: BaseException | None = None
            try:
                target.start()
            except Exception as exc:  # the drill that takes it reports it, as if it had started it itself
                failure = exc
                target.stop()
            with self._changed:
                self._starting = ""
                if failure is not None:
                    self._failed[scenario.name] = failure
                elif self._closed:
                    target.stop()
                else:
                    self._ready[scenario.name] = target
                self._changed.notify_all()

    def take(self, scenario: Scenario, image: str) -> Target:
        with self._changed:
            if any(s.name == scenario.name for s in self._queue):
                # Its turn has not come: the drill starts its own rather than wait for the others ahead of it.
                self._queue = deque(s for s in self._queue if s.name != scenario.name)
            while self._starting == scenario.name and not self._closed:
                self._changed.wait()
            failed = self._failed.pop(scenario.name, None)
            target = self._ready.pop(scenario.name, None)
            self._changed.notify_all()
        if failed is not None:
            raise HarnessError(f"starting the target for {scenario.name} failed: {failed}") from failed
        if target is not None and image == self.image:
            return target
        if target is not None:
            self.give_back(target)
        return self.fresh.take(scenario, image)

    def give_back(self, target: Target) -> None:
        remover = background(target.stop, name="harness-remove")
        with self._changed:
            self._removals.append(remover)
        remover.start()

    def stop(self) -> None:
        """Start nothing more (safe from any thread; Ctrl-C calls it before removing the run's containers)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def close(self) -> None:
        self.stop()
        self._starter.join()
        with self._changed:
            unused, self._ready = list(self._ready.values()), {}
        for target in unused:
            target.stop()
        for remover in self._removals:
            remover.join()
