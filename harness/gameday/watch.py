"""The watcher: one background process per rehearsal that owns its target.

It starts the target, injects the fault, probes port 80 as monitoring does,
and recognises recovery itself (K good samples in a row and a healthy doctor).
It writes the rehearsal's state to disk twice a second, honours `gameday end`
and the time limit, writes the postmortem draft, and removes the target.
Dashboards come and go; the watcher stays until the rehearsal ends.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from harness.doctor import Diagnosis, examine
from harness.errors import HarnessError
from harness.gameday.hints import hints_for
from harness.gameday.postmortem import write_report
from harness.gameday.state import ProbeFigures, Rehearsal, RehearsalState, Status, WatcherInfo, now
from harness.otel import trace_rehearsal
from harness.ownership import owner_token
from harness.probe import Monitor, Sample, find_streak, ok_for
from harness.report import diagnosis_to_dict
from harness.scenario import Scenario, call_plugin
from harness.session import Session
from harness.signals import sigterm_as_interrupt
from harness.target import Target

log = logging.getLogger(__name__)

TICK = 0.5  # how often the state file is rewritten
DOCTOR_EVERY = 1.0  # at most one examination per second while waiting for recovery
SETTLE = 1.0  # how long the probe must stay ok after the injection before the doctor's finding counts as detection


@dataclass(frozen=True)
class WatchOptions:
    scenario: str
    hidden: bool
    time_limit: float
    streak: int = 3
    interval: float = 0.1


class Watcher:
    def __init__(self, rehearsal: Rehearsal, session: Session, options: WatchOptions) -> None:
        self.rehearsal = rehearsal
        self.session = session
        self.options = options
        self.state = RehearsalState(
            id=rehearsal.id,
            scenario=options.scenario,
            hidden=options.hidden,
            time_limit_s=options.time_limit,
            streak=options.streak,
            watcher=WatcherInfo(session.run_id, os.getpid(), owner_token()),
            site=str(session.site.folder) if session.site is not None else None,
        )
        self._t0 = time.monotonic()
        self._injected_t: float | None = None
        self._detected_t: float | None = None
        self._last_doctor = 0.0
        self._doctor_found: tuple[float, str] | None = None  # when the first examination found a fault, and which

    def _set(self, **changes: Any) -> None:
        self.state = dataclasses.replace(self.state, **changes)

    def run(self) -> RehearsalState:
        try:
            with sigterm_as_interrupt():
                scenario = self.session.catalogue.get(self.options.scenario)
                self._set(
                    scenario=scenario.name,  # its own name, also when it was given as a file
                    summary=scenario.summary,
                    cause=scenario.cause,
                    declared_symptom=scenario.symptom.value,
                )
                labels = {"harness.scenario": scenario.name, "harness.gameday": self.rehearsal.id}
                with self.session.new_target(capabilities=scenario.capabilities, labels=labels) as target:
                    self._rehearse(scenario, target)
        except KeyboardInterrupt:
            self._finish(Status.NOT_RECOVERED, "the watcher was stopped (SIGTERM or Ctrl-C); the target was removed")
        except HarnessError as exc:
            self._finish(Status.ERROR, str(exc))
        except Exception as exc:  # the watcher must still write its report and remove its target
            log.exception("the watcher failed")
            self._finish(Status.ERROR, f"the watcher failed: {type(exc).__name__}: {exc}")
        self._set(torn_down_at=now())
        # The report first: whoever sees the final status on disk may open the report at once.
        report = write_report(self.rehearsal, self.state)
        self._save()
        trace_rehearsal(report)
        return self.state

    # -- phases --------------------------------------------------------------
    def _rehearse(self, scenario: Scenario, target: Target) -> None:
        opts = self.options
        self._set(target=target.name, url=target.url, shell=target.shell_command())
        monitor = Monitor(target.probe(self.session.settings.probe_timeout), opts.interval)
        with monitor:
            if monitor.wait_for_streak(True, opts.streak, since=0.0, timeout=30) is None:
                raise HarnessError("the target never served its page before the fault was injected")
            target.require_managed()
            # What was broken on this server (a site's own files), for the reveal and the postmortem.
            self._set(summary=call_plugin(scenario.name, "describe", scenario.describe, target))
            self._injected_t = time.monotonic()
            call_plugin(scenario.name, "inject", scenario.inject, target)
            before = examine(target)
            hints = hints_for(before)
            if not before.healthy:
                self._doctor_found = (time.monotonic(), before.cause)
            self._set(
                status=Status.BROKEN,
                injected_at=self._wall(self._injected_t),
                doctor_before=diagnosis_to_dict(before),
                hints=tuple(hints),
                hint_count=len(hints),
            )
            self._save()
            self._watch(target, monitor)
            self._set(doctor_after=diagnosis_to_dict(examine(target)))

    def _watch(self, target: Target, monitor: Monitor) -> None:
        opts = self.options
        assert self._injected_t is not None
        while True:
            samples = [s for s in monitor.samples if s.t >= self._injected_t]
            self._update_probe(samples)
            if self.state.detected_at is None:
                self._detect(samples)
            elif self._recovered(target, samples):
                return self._finish(Status.RECOVERED, "port 80 serves again and the doctor finds nginx healthy")
            why = self.rehearsal.end_requested()
            if why is not None:
                return self._finish(Status.NOT_RECOVERED, f"ended before recovery: {why}")
            if time.monotonic() - self._injected_t >= opts.time_limit:
                return self._finish(Status.NOT_RECOVERED, f"the time limit of {opts.time_limit:g} s ran out")
            self._save()
            time.sleep(TICK)

    def _detect(self, samples: list[Sample]) -> None:
        """The probe first, as monitoring would; a fault it cannot see is detected by the examination."""
        assert self._injected_t is not None
        bad = find_streak(samples, False, self.options.streak, self._injected_t)
        if bad is not None:
            self._detected(f"by the probe: {bad.outcome.value} ({bad.first.detail})", bad.first.t)
        elif self._doctor_found is not None and ok_for(samples, self._injected_t) >= SETTLE:
            # Not naming the cause here: a hidden scenario's dashboard shows this line.
            self._detected("by the doctor's examination (port 80 still serves)", self._doctor_found[0])

    def _recovered(self, target: Target, samples: list[Sample]) -> bool:
        """K good samples in a row after the last failure, and then a healthy examination."""
        k = self.options.streak
        if len(samples) < k or not all(s.ok for s in samples[-k:]):
            return False
        if time.monotonic() - self._last_doctor < DOCTOR_EVERY:
            return False
        examined = self._last_doctor = time.monotonic()
        diagnosis: Diagnosis = examine(target)
        self._set(doctor_now=diagnosis.cause)
        if not diagnosis.healthy:
            return False
        last_bad = max((i for i, s in enumerate(samples) if not s.ok), default=None)
        if last_bad is None:
            # The probe never saw this fault (a latent one): it ended when the doctor first found nginx healthy.
            resolved = examined
        else:
            resolved = samples[last_bad + 1].t if last_bad + 1 < len(samples) else samples[-1].t
        detected = self._detected_t if self._detected_t is not None else resolved
        self._set(recovered_at=self._wall(max(resolved, detected)))
        return True

    # -- state ----------------------------------------------------------------
    def _update_probe(self, samples: list[Sample]) -> None:
        if not samples:
            return
        failed = [s for s in samples if not s.ok]
        symptom = Counter(s.outcome.value for s in failed).most_common(1)
        last = samples[-1]
        probe = ProbeFigures(
            current=last.outcome.value,
            detail=last.detail,
            samples=len(samples),
            failed=len(failed),
            availability_pct=round(100.0 * (len(samples) - len(failed)) / len(samples), 2),
            symptom=symptom[0][0] if symptom else None,
        )
        self._set(probe=probe)

    def _detected(self, how: str, t: float) -> None:
        self._detected_t = t
        self._set(detected_at=self._wall(t), detected_by=how)

    def _finish(self, status: Status, reason: str) -> None:
        self.state = self.state.finished(status, reason)

    def _wall(self, t: float) -> datetime:
        """A monotonic instant as UTC wall-clock time."""
        return now() - timedelta(seconds=time.monotonic() - t)

    def _save(self) -> None:
        self._set(updated_at=now())
        self.rehearsal.write(self.state)
