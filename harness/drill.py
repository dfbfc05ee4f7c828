"""The drill: steady state, inject, detect, diagnose, repair, verify, always tear down.

A finding about the server is a verdict in the Result; only trouble in the
harness itself (engine gone, target vanished) ends a drill with verdict
"error", and an interrupt raises DrillInterrupted carrying the partial result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

from harness import otel
from harness.command import ExecResult
from harness.doctor import UNEXPLAINED, Diagnosis, Request, examine
from harness.errors import CommandFailed, DeadlineExceeded, HarnessError, InvalidInput, RemedyError
from harness.facts import Facts
from harness.known_good import Sent
from harness.listeners import DrillListener, Listeners
from harness.load import LoadReport, burst
from harness.outcome import DetectedBy, Result, Verdict
from harness.probe import USER_AGENT, Check, Monitor, Probe, Sample, Streak
from harness.remedy import remedy_for
from harness.scenario import Scenario, call_plugin
from harness.session import Session
from harness.signals import background, deadline, deferred_signals, sigterm_as_interrupt
from harness.symptom import Symptom
from harness.target import State, Target
from harness.targets import FreshTargets, TargetSource
from harness.timeline import EventKind, Recorder
from harness.undo import explains

Repair = Callable[[Target, Diagnosis], list[ExecResult]]
# Rounds of examine, diagnose, repair: two faults at once take two; a bound keeps a repair that cannot win from looping.
MAX_ROUNDS = 4
# After a repair, how long port 80 has to answer before the doctor looks again for another cause.
ROUND_LOOK = 1.0
# How a drill watches port 80 (a fake in the phase tests): given the target's probe and the interval.
MonitorFactory = Callable[[Probe, float], Monitor]


def repair_by_remedy(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    """The default repair: whatever the diagnosis calls for, blind to the scenario."""
    return remedy_for(diagnosis)(target, diagnosis)


NO_BURST = "no burst (every page of the site is TLS-only or under its own limit_req / limit_conn)"


def load_burst(target: Target, requests: int, concurrency: int) -> LoadReport | None:
    """A burst of concurrent clients at the target's page, judged as the probe judges; None where none can be sent.

    A TLS-only site (the burst speaks plain HTTP), or one whose every page is under its own limit_req or
    limit_conn, which turns a one-client burst away by design: there load proves nothing either way, and the
    doctor decides.
    """
    check = target.load_check
    if check is None:
        return None
    return burst(target.url + check.path, requests=requests, concurrency=concurrency, check=check)


@dataclass(frozen=True)
class DrillOptions:
    streak: int = 3  # consecutive samples that confirm a state change
    interval: float = 0.05
    steady_timeout: float = 10.0
    detect_timeout: float = 20.0
    recover_timeout: float = 20.0
    # How long the probe must stay ok after the injection before detection escalates to load, then the doctor.
    settle: float = 1.0
    load_requests: int = 2000
    load_concurrency: int = 100
    timeout: float | None = None  # the whole drill, from start to teardown (--timeout)
    # After a repair that left nothing new running (no process started or restarted), how long port 80 may stay
    # broken before the drill says it will not come back; 0: wait out recover_timeout.
    quiet: float = 1.0


class DrillInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a drill; the target is gone and `result` holds the timeline so far."""

    def __init__(self, result: Result) -> None:
        super().__init__(f"drill of {result.scenario} interrupted")
        self.result = result


class _Stop(Exception):
    """Ends the phases early with a verdict."""

    def __init__(self, verdict: Verdict, reason: str) -> None:
        self.verdict = verdict
        self.reason = reason


@dataclass
class DrillState:
    """What one drill has found so far: written by its phases, read once into the Result."""

    symptom_seen: Symptom | None = None
    detected_by: DetectedBy | None = None
    baseline: Diagnosis | None = None  # the unbroken target, examined
    diagnosis: Diagnosis | None = None
    diagnosis_after: Diagnosis | None = None
    steps: list[ExecResult] = field(default_factory=list)  # the repair's
    load_reports: list[LoadReport] = field(default_factory=list)
    bursts: list[tuple[float, float]] = field(default_factory=list)  # when harness's own bursts ran (monotonic)
    measured: tuple[str, ...] = ()  # the failure seen from outside, which the diagnosis must account for
    requests: tuple[Request, ...] = ()  # the requests that failed, for the doctor to trace
    target_name: str = ""
    url: str = ""
    tls_url: str = ""
    probes: tuple[Check, ...] = ()
    early: _Background | None = None  # the diagnosis begun on the first failing sample
    before_repair: frozenset[tuple[int, str]] = frozenset()  # processes running before the repair
    rounds: list[Diagnosis] = field(default_factory=list)  # every round's diagnosis
    # A later round's "unexplained" with nothing broken inside: left to verification, quoted if it fails.
    unconfirmed: Diagnosis | None = None
    unsteady: tuple[str, ...] = ()  # the probes that did not hold before any fault, one line each
    summary: str = ""  # what the scenario broke on this server, in its own words (Scenario.describe)


class Drill:
    def __init__(
        self,
        session: Session,
        scenario: Scenario,
        *,
        options: DrillOptions | None = None,
        repair: Repair = repair_by_remedy,
        listeners: Iterable[DrillListener] = (),
        image: str | None = None,
        cancel: threading.Event | None = None,
        targets: TargetSource | None = None,
        monitor: MonitorFactory = Monitor,
    ) -> None:
        self.session = session
        self.targets = targets or FreshTargets(session)
        self.image = image
        self.scenario = scenario
        self.options = options or DrillOptions(interval=session.settings.probe_interval)
        self.repair = repair
        # Tracing listens to every drill: it sends the result on when the environment asks for traces.
        self.listeners = Listeners((*listeners, otel.Tracing()))
        self.recorder = Recorder(self.listeners.event)
        self.state = DrillState()
        self.monitors = monitor
        self.monitor: Monitor | None = None
        self.target: Target | None = None
        # Set by whoever runs drills in parallel, on Ctrl-C: this drill ends as interrupted at its next step.
        self.cancel = cancel or threading.Event()
        self._ran = False
        self._began = 0.0

    def interrupt(self) -> None:
        """End this drill from another thread: nothing more is injected, its waits return now."""
        self.cancel.set()
        if self.monitor is not None:
            self.monitor.halt()

    def _checkpoint(self) -> None:
        if self.cancel.is_set():
            raise KeyboardInterrupt("interrupted")

    def run(self) -> Result:
        if self._ran:
            raise HarnessError("a Drill runs once; create a new Drill for another run")
        self._ran = True
        verdict, reason = Verdict.ERROR, "the drill did not finish"
        image = ""
        try:
            with sigterm_as_interrupt():
                self._checkpoint()
                self._began = time.monotonic()
                image = self.image or self.session.image.tag
                target = self.targets.take(self.scenario, image)
                try:
                    with deadline(self.options.timeout, self._out_of_time):
                        verdict, reason = self._with_target(target)
                finally:
                    with deferred_signals(), self.recorder.phase("teardown"):
                        if self.monitor is not None:
                            self.monitor.stop()
                        self.targets.give_back(target)
                        self.recorder.record(EventKind.TORN_DOWN, self.state.target_name)
        except KeyboardInterrupt as exc:
            self.recorder.record(EventKind.INTERRUPTED, str(exc) or "interrupted")
            raise DrillInterrupted(
                self._result(Verdict.INTERRUPTED, "interrupted before the drill finished", image)
            ) from exc
        except InvalidInput:
            raise  # a site that cannot be laid in is bad input, not a finding about the server
        except HarnessError as exc:
            if self.cancel.is_set():
                # Its target was removed because of the interrupt: that is the interrupt, not a failure.
                self.recorder.record(EventKind.INTERRUPTED, "interrupted")
                raise DrillInterrupted(
                    self._result(Verdict.INTERRUPTED, "interrupted before the drill finished", image)
                ) from exc
            verdict, reason = Verdict.ERROR, str(exc)
            self.recorder.record(EventKind.FAILED, reason)
        return self._result(verdict, reason, image)

    def _out_of_time(self) -> DeadlineExceeded:
        last = self.recorder.events[-1].kind.value if self.recorder.events else "nothing yet"
        return DeadlineExceeded(
            f"the drill did not finish within {self.options.timeout:g} s (--timeout); the last event was {last}"
        )

    def _with_target(self, target: Target) -> tuple[Verdict, str]:
        self.target = target
        with self.recorder.phase("start", since=self._began):
            if target.state is State.NEW:  # a warm one serves already
                target.start()
        self._checkpoint()
        self.state.target_name = target.name
        self.state.url = target.url
        self.recorder.record(EventKind.TARGET_STARTED, f"{target.name} serving on {target.url}")
        probe = target.probe(self.session.settings.probe_timeout)
        self.state.probes, self.state.tls_url = tuple(probe.checks), probe.tls_url
        self.monitor = self.monitors(probe, self.options.interval)
        self.monitor.start()
        if self.cancel.is_set():
            self.monitor.halt()
        try:
            self._phases(target, self.monitor)
            verdict, reason = (
                Verdict.RECOVERED,
                "port 80 serves the expected page again and the doctor finds nginx healthy",
            )
        except _Stop as stop:
            self._checkpoint()  # a wait cut short by an interrupt is the interrupt, not a verdict
            verdict, reason = stop.verdict, stop.reason
        # The verdict is in: what port 80 does from here on is the listeners' business (verify-fix restarts the
        # container, which moves the published port).
        self.monitor.stop()
        self.listeners.verdict(target, verdict)
        return verdict, reason

    def _phases(self, target: Target, monitor: Monitor) -> None:
        k, opts, rec = self.options.streak, self.options, self.recorder
        found = self.state

        with rec.phase("steady"):
            with rec.phase("steady/streak"):
                # The doctor examines the unbroken server while the probe gathers its streak: neither needs the other.
                doctor = _Background(lambda: examine(target, replay=_replay(target)))
                waited = self._patience(opts.steady_timeout, monitor)
                steady = monitor.wait_for_streak(True, k, since=0.0, timeout=waited)
                if steady is None:
                    found.unsteady = unsteady_probes(target, monitor.samples)
                    raise _Stop(
                        Verdict.NOT_STEADY,
                        f"no {k} good samples in a row within {waited:g} s before injection"
                        + "".join(f"\n  {line}" for line in found.unsteady),
                    )
            self._checkpoint()
            found.baseline = doctor.result(rec, "steady/doctor")
            if not found.baseline.healthy:
                raise _Stop(
                    Verdict.NOT_STEADY,
                    f"before any fault, the doctor finds {found.baseline.cause}: {found.baseline.summary} "
                    + (
                        "(a false alarm)"
                        if self.session.site is None
                        else "(a defect of the site's own where no probe looks, or a false alarm)"
                    ),
                )
            paced = (
                f" (one every {monitor.interval:.2g} s, within the site's own limits)"
                if monitor.interval > opts.interval
                else ""
            )
            rec.record(EventKind.STEADY, f"{k} good samples in a row{paced}; the doctor finds nginx healthy")

        target.require_managed()
        self._checkpoint()
        with rec.phase("inject"):
            found.summary = call_plugin(self.scenario.name, "describe", self.scenario.describe, target)
            injected = rec.record(EventKind.INJECTED, found.summary)
            call_plugin(self.scenario.name, "inject", self.scenario.inject, target)
        with rec.phase("detect"):
            self._detect(target, monitor, injected.t, time.monotonic())
        self._checkpoint()

        if found.diagnosis is None:
            if found.early is not None:
                found.diagnosis = found.early.result(rec, "diagnose")
                took = found.early.took
            else:
                with rec.phase("diagnose"):
                    examined = time.monotonic()
                    found.diagnosis = examine(
                        target, found.measured, found.requests, self._baseline_facts(), replay=_replay(target)
                    )
                    took = time.monotonic() - examined
            rec.record(
                EventKind.DIAGNOSED,
                f"{found.diagnosis.cause} (examined in {took:.2f} s): {found.diagnosis.summary}",
            )

        self._checkpoint()
        found.rounds.append(found.diagnosis)
        with rec.phase("repair"):
            repair_started, repaired = self._repair(target, found.diagnosis)
        # Verification begins with the first repair: port 80 may answer while the next round is considered, and
        # a round that is taken (a second fault behind the first) is part of bringing the server back.
        with rec.phase("verify"):
            for number in range(2, MAX_ROUNDS + 1):
                self._checkpoint()
                again = self._another_round(target, monitor, repaired, number)
                if again is None:
                    break
                found.rounds.append(again)
                rec.record(EventKind.DIAGNOSED, f"round {number}: {again.cause}: {again.summary}")
                with rec.phase(f"round-{number}/repair"):
                    _, repaired = self._repair(target, again, number)
            self._verify(target, monitor, repair_started, repaired)

    def _another_round(self, target: Target, monitor: Monitor, repaired: float, number: int) -> Diagnosis | None:
        """After a repair: None once port 80 answers (or nothing new is found); else the next round's diagnosis.

        Only the doctor's own repair takes rounds: a user's fix script or a person (verify-fix, game day) is judged
        on what it did, once. Another round needs the outage confirmed by samples sent after the repair: where the
        site's limits space the samples, or a reload is slow on a loaded machine, failures sent before the repair
        took effect are no evidence of a second fault, and verification judges instead."""
        if self.repair is not repair_by_remedy:
            return None
        k = self.options.streak
        # Long enough for a streak of samples to be sent and answered (one held by a hung upstream takes the
        # probe's timeout); it ends as soon as a sample is good or a failing streak is confirmed.
        look = max(ROUND_LOOK, (k + 1) * monitor.interval) + self.session.settings.probe_timeout
        bad = monitor.wait_for_failure(k, since=repaired, quiet=monitor.interval, timeout=look)
        served = bad is None and any(s.ok for s in monitor.samples if s.t >= repaired)
        if bad is None and not served:
            return None  # neither confirmed (a flapping server): verification judges
        if served and self.state.detected_by is not DetectedBy.DOCTOR:
            return None  # port 80 answers again: verification judges the rest
        # Served: a fault only the doctor saw, and a second one may hide behind it (port 80 still serves).
        measured: tuple[str, ...] = ()
        requests: tuple[Request, ...] = ()
        if bad is not None:
            # Port 80 fails now, even where it served through the fault: a repair (a reload) may reveal another one.
            measured, requests = _what_failed(bad.samples[-1])
        with self.recorder.phase(f"round-{number}/diagnose"):
            again = examine(target, measured, requests, self._baseline_facts(), replay=_replay(target))
        seen = {(d.cause, d.summary) for d in self.state.rounds}
        if again.healthy or (again.cause, again.summary) in seen:
            return None  # the same cause with the same evidence: this round would change nothing
        if again.cause == UNEXPLAINED and not again.broken_step and not explains(again):
            # Every step of the failing request holds inside and the record has nothing to put back: the failure
            # outside was the first repair still taking effect (a reload's old workers answer on a loaded
            # machine), not a second fault. A round here could only give up; verification judges instead.
            self.state.unconfirmed = again
            return None
        return again

    def _repair(self, target: Target, diagnosis: Diagnosis, number: int = 1) -> tuple[float, float]:
        rec = self.recorder
        self.state.before_repair = target.processes() if self.options.quiet else frozenset()
        said = f"repairing {diagnosis.cause}" + (f" (round {number})" if number > 1 else "")
        repair_started = rec.record(EventKind.REPAIR_STARTED, said).t
        try:
            steps = call_plugin(self.scenario.name, "repair", self.repair, target, diagnosis)
        except RemedyError as exc:
            raise _Stop(Verdict.NOT_RECOVERED, _in_round(number, str(exc))) from exc
        except CommandFailed as exc:
            # A repair step that exits non-zero is a failed repair, not harness's own fault.
            raise _Stop(Verdict.NOT_RECOVERED, _in_round(number, f"the repair step failed: {exc}")) from exc
        self.state.steps += steps
        failed = [s for s in steps if not s.ok]
        if failed:
            what = f"failed: {' '.join(failed[0].argv)} exited {failed[0].exit_code}"
        else:
            what = "; ".join(" ".join(s.argv) for s in steps) or "nothing to do"
        repaired = rec.record(EventKind.REPAIRED, what).t
        if not steps:
            # Nothing was changed, so nothing can recover: waiting out the recovery timeout would only hide that.
            raise _Stop(
                Verdict.NOT_RECOVERED,
                f"the repair for {diagnosis.cause} had nothing to do, so port 80 stays broken; {diagnosis.summary}",
            )
        return repair_started, repaired

    def _verify(self, target: Target, monitor: Monitor, repair_started: float, repaired: float) -> None:
        k, opts, rec = self.options.streak, self.options, self.recorder
        # The probe was ok throughout a fault it cannot see, so only samples after the repair prove anything.
        since = repair_started if self.state.detected_by is DetectedBy.PROBE else repaired
        waited = self._patience(opts.recover_timeout, monitor)
        deadline = time.monotonic() + waited
        with rec.phase("verify/streak"):
            first = self._first_good(target, monitor, since, deadline)
            # From the first good sample the doctor examines while the probe confirms the streak.
            doctor = (
                _Background(lambda: examine(target, baseline=self._baseline_facts(), replay=_replay(target)))
                if first
                else None
            )
            good = monitor.wait_for_streak(True, k, since=since, timeout=max(0.0, deadline - time.monotonic()))
            if good is None:
                unconfirmed = self.state.unconfirmed
                said = f"; the doctor, after the repair: {unconfirmed.summary}" if unconfirmed is not None else ""
                raise _Stop(
                    Verdict.NOT_RECOVERED,
                    f"port 80 did not serve the expected page within {waited:g} s of the repair "
                    f"({_last_probe(monitor)}){said}",
                )
        rec.record(EventKind.RECOVERED, _describe_streak(good), t=good.first.t)
        if doctor is None or doctor.started < good.first.t:
            # Port 80 failed again after the sample that started it: its examination may predate the recovery.
            doctor = _Background(lambda: examine(target, baseline=self._baseline_facts(), replay=_replay(target)))
        self.state.diagnosis_after = doctor.result(rec, "verify/doctor")
        if not self.state.diagnosis_after.healthy:
            raise _Stop(
                Verdict.NOT_RECOVERED,
                f"port 80 serves again but the doctor still finds {self.state.diagnosis_after.cause}: "
                f"{self.state.diagnosis_after.summary}",
            )
        if self.state.detected_by is DetectedBy.LOAD:
            with rec.phase("verify/load"):
                report = self._burst(target, "after the repair")
            if report.degraded:
                raise _Stop(Verdict.NOT_RECOVERED, f"port 80 still fails under load: {report.describe()}")

    def _first_good(self, target: Target, monitor: Monitor, since: float, deadline: float) -> Streak | None:
        """The first good sample after the repair; or None by the deadline, or sooner once the server has settled
        unrepaired: the repair left nothing running that was not running before it, for `quiet` seconds."""
        opts, repaired = self.options, time.monotonic()
        while True:
            left = deadline - time.monotonic()
            look = min(0.25, opts.quiet or 0.25)  # how often to look at what runs
            first = monitor.wait_for_streak(True, 1, since=since, timeout=max(0.0, min(left, look)))
            if first is not None or left <= 0:
                return first
            self._checkpoint()
            # Judged on answers, not on the clock: samples still in flight (a blackholed port holds each for the
            # probe timeout) may yet be good, so give up only once one sent `quiet` after the repair has failed
            # and none sent since the repair has succeeded.
            answered = [s for s in monitor.samples if s.t >= since]
            still_failing = any(not s.ok and s.t >= repaired + opts.quiet for s in answered)
            if opts.quiet and self.state.before_repair and still_failing and not any(s.ok for s in answered):
                started = target.processes() - self.state.before_repair
                if not started:
                    raise _Stop(
                        Verdict.NOT_RECOVERED,
                        f"port 80 did not serve the expected page after the repair, and {opts.quiet:g} s after it "
                        f"nothing runs that did not run before it, so nothing more is coming ({_last_probe(monitor)})",
                    )

    def _detect(self, target: Target, monitor: Monitor, injected: float, inject_done: float) -> None:
        """Probe first; if single requests stay fine, a load burst; if that is served too, the doctor; if it finds
        the server healthy too, the hold that may end withstood.

        Samples sent while the injection ran do not decide anything on their
        own (a restart inside the injection blinks port 80 even for faults
        that do not refuse), but an outage that began there and lasted is
        dated from its first failing sample.
        """
        k, opts = self.options.streak, self.options
        found = self.state
        # The doctor starts on the first failing sample, while the probe confirms the streak: if that sample
        # opens the confirmed streak, its diagnosis stands; if not (a blink), it is thrown away.
        # Where the site's limits space the samples, "stayed ok" and the deadline take as many samples as at full pace.
        settle = max(opts.settle, k * monitor.interval)
        waited = self._patience(opts.detect_timeout, monitor)
        seen = monitor.wait_for_failure(1, since=inject_done, quiet=settle, timeout=waited)
        early = None
        if seen is not None:
            measured, requests = _what_failed(seen.first)
            early = _Background(
                lambda: examine(target, measured, requests, self._baseline_facts(), replay=_replay(target))
            )
        bad = monitor.wait_for_failure(k, since=inject_done, quiet=settle, timeout=waited)
        if bad is not None:
            if early is not None and seen is not None and seen.first is bad.first:
                found.early = early
            self._by_probe(monitor, bad, injected)
            return
        self._checkpoint()
        started = time.monotonic()
        report = self._burst(target, "single requests are still served")
        if report.degraded:
            self._by_load(target, report, started)
            return
        examined = time.monotonic()
        diagnosis = examine(target, baseline=self._baseline_facts(), replay=_replay(target))
        if not diagnosis.healthy:
            self._by_doctor(diagnosis, examined)
            return
        self._hold(target, monitor, injected, inject_done)

    def _hold(self, target: Target, monitor: Monitor, injected: float, inject_done: float) -> None:
        """The probe, a burst and the doctor found the server healthy soon after the injection: before that may be
        called withstood, the probe watches out the whole detection window, then the burst (for a scenario that
        shows under load) and the doctor look again.

        A fault may take its time to show (workers recycled, a cache or a keepalive expiring, a log filling up):
        one that shows within the window is detected late, as any other, and repaired. Lone failures that never
        made a streak get a second window of the probe's: a fault that flickers fails again there and is
        not-detected (never withstood); a failure that does not recur was the machine's, and the reason says so.
        Samples sent while harness's own burst ran are the burst's to judge: its load is harness's, not the site's.
        """
        opts, rec, found = self.options, self.recorder, self.state
        with rec.phase("detect/hold"):
            if self._watch(monitor, injected, inject_done, injected + opts.detect_timeout):
                return
        if self.scenario.symptom is Symptom.FAILS_UNDER_LOAD:
            started = time.monotonic()
            report = self._burst(target, f"the probe stayed ok for {opts.detect_timeout:g} s after the injection")
            if report.degraded:
                self._by_load(target, report, started)
                return
            if not report.requests:
                raise _Stop(
                    Verdict.NOT_DETECTED,
                    f"the probe stayed ok after the injection and the doctor finds nginx healthy, but {NO_BURST}, "
                    "so a fault that shows only under load can be neither detected nor ruled out",
                )
        with rec.phase("detect/doctor"):
            examined = time.monotonic()
            diagnosis = examine(target, baseline=self._baseline_facts(), replay=_replay(target))
        if not diagnosis.healthy:
            self._by_doctor(diagnosis, examined)
            return
        # Up to the doctor's last word: a streak that began meanwhile is a detection.
        if self._watch(monitor, injected, inject_done, time.monotonic()):
            return
        lone = self._failed_since(monitor, inject_done)
        if lone:
            again = time.monotonic()
            with rec.phase("detect/hold-again"):
                if self._watch(monitor, injected, again, again + opts.detect_timeout):
                    return
            self._no_flicker(monitor, again, lone)
        found.diagnosis = diagnosis
        samples = [s for s in monitor.samples if s.t >= inject_done and not self._in_burst(s.t)]
        held = time.monotonic() - injected
        parts = [
            f"{len(samples) - len(lone)} of {len(samples)} probe samples were ok for {held:.1f} s after the injection"
        ]
        if lone:
            first = lone[0]
            parts.append(
                f"{len(lone)} lone failure{'s' if len(lone) > 1 else ''} ({first.outcome.value}, {first.detail}) did "
                f"not recur in a further {opts.detect_timeout:g} s"
            )
        parts += [
            f"a burst of {r.requests} requests at {r.concurrency} clients was served"
            for r in found.load_reports
            if r.requests
        ]
        parts.append("the doctor finds nginx healthy")
        said = "; ".join(parts)
        changed = [c.line() for c in diagnosis.changes.items]
        if changed:
            said += f"; what the fault changed: {', '.join(changed)}"
        rec.record(EventKind.WITHSTOOD, said)
        raise _Stop(Verdict.WITHSTOOD, f"the steady state held under the fault: {said}")

    def _watch(self, monitor: Monitor, injected: float, since: float, until: float) -> bool:
        """Watch the probe until UNTIL for a failing streak sent since SINCE (outside harness's bursts); True when
        one came, which is then the detection."""
        floor = self._after_bursts(since)
        bad = monitor.wait_for_streak(
            False, self.options.streak, since=floor, timeout=max(0.0, until - time.monotonic())
        )
        self._checkpoint()
        if bad is None:
            return False
        self._by_probe(monitor, bad, max(floor, injected))
        return True

    def _failed_since(self, monitor: Monitor, since: float) -> list[Sample]:
        return [s for s in monitor.samples if s.t >= since and not s.ok and not self._in_burst(s.t)]

    def _no_flicker(self, monitor: Monitor, since: float, lone: list[Sample]) -> None:
        """Ends the drill not-detected when probe samples failed again since SINCE, after the LONE failures before."""
        again = self._failed_since(monitor, since)
        if again:
            failed = [*lone, *again]
            raise _Stop(
                Verdict.NOT_DETECTED,
                f"{len(failed)} probe samples failed after the injection, never {self.options.streak} in a row "
                f"({failed[-1].outcome.value}, {failed[-1].detail}): a fault that flickers is neither detected nor "
                "withstood",
            )

    def _in_burst(self, t: float) -> bool:
        return any(start <= t <= end for start, end in self.state.bursts)

    def _after_bursts(self, since: float) -> float:
        return max([since, *(end for _, end in self.state.bursts)])

    def _by_probe(self, monitor: Monitor, bad: Streak, floor: float) -> None:
        """Detected by the probe's streak BAD, dated from the first failing sample of its run sent since FLOOR."""
        found = self.state
        found.symptom_seen, found.detected_by = Symptom.of(bad.outcome), DetectedBy.PROBE
        found.measured, found.requests = _what_failed(bad.first)
        first = monitor.failing_since(bad, floor=floor)
        self.recorder.record(EventKind.DETECTED, f"by the probe: {_describe_streak(bad)}", t=first.t)

    def _by_load(self, target: Target, report: LoadReport, started: float) -> None:
        found = self.state
        found.symptom_seen, found.detected_by = Symptom.FAILS_UNDER_LOAD, DetectedBy.LOAD
        found.measured = (f"a load burst: {report.describe()}",)
        check = target.load_check  # the request the burst sent, to its virtual host
        path, host = ("/" + check.path, check.host) if check is not None else ("/", "")
        found.requests = (Request(path, host, under_load=True),)
        self.recorder.record(EventKind.DETECTED, f"by load: {report.describe()}", t=started)

    def _by_doctor(self, diagnosis: Diagnosis, examined: float) -> None:
        found = self.state
        found.symptom_seen, found.detected_by, found.diagnosis = Symptom.LATENT, DetectedBy.DOCTOR, diagnosis
        rec = self.recorder
        rec.record(EventKind.DETECTED, f"by the doctor (port 80 still serves): {diagnosis.cause}", t=examined)
        rec.record(EventKind.DIAGNOSED, f"{diagnosis.cause}: {diagnosis.summary}")

    def _patience(self, timeout: float, monitor: Monitor) -> float:
        """TIMEOUT, or long enough for a streak and two samples more where the site's limits space the samples."""
        return max(timeout, (self.options.streak + 2) * monitor.interval)

    def _baseline_facts(self) -> Facts | None:
        return self.state.baseline.facts if self.state.baseline is not None else None

    def _burst(self, target: Target, why: str) -> LoadReport:
        opts = self.options
        started = time.monotonic()
        # The probe waits while harness's own crowd runs: samples queued behind it would measure harness.
        pause = self.monitor.paused() if self.monitor is not None else nullcontext()
        with pause:
            report = load_burst(target, opts.load_requests, opts.load_concurrency)
        if report is not None:  # samples still in flight meanwhile measure harness's own load: the burst judges
            self.state.bursts.append((started, time.monotonic()))
        if report is None:
            report = LoadReport(0, 0, {}, 0.0)
            self.state.load_reports.append(report)
            self.recorder.record(EventKind.LOAD_TESTED, f"{why}; {NO_BURST}")
            return report
        self.state.load_reports.append(report)
        self.recorder.record(EventKind.LOAD_TESTED, f"{why}: {report.describe()}")
        return report

    def _result(self, verdict: Verdict, reason: str, image: str) -> Result:
        samples = self.monitor.samples if self.monitor is not None else []
        timeline = self.recorder.freeze(samples)
        injected = timeline.at(EventKind.INJECTED)
        detected = timeline.at(EventKind.DETECTED)
        recovered = timeline.at(EventKind.RECOVERED)
        result = Result(
            scenario=self.scenario.name,
            summary=self.state.summary or self.scenario.summary,
            declared_symptom=self.scenario.symptom,
            declared_cause=self.scenario.cause,
            verdict=verdict,
            reason=reason,
            symptom_seen=self.state.symptom_seen,
            detected_by=self.state.detected_by,
            baseline=self.state.baseline,
            diagnosis=self.state.diagnosis,
            diagnosis_after=self.state.diagnosis_after,
            repair_steps=tuple(self.state.steps),
            load_reports=tuple(self.state.load_reports),
            timeline=timeline,
            round_trips=tuple(self.target.round_trips) if self.target is not None else (),
            time_to_detect=detected.t - injected.t if injected and detected else None,
            time_to_recover=recovered.t - injected.t if injected and recovered else None,
            duration=time.monotonic() - self.recorder.t0,
            image=image,
            target=self.state.target_name,
            run_id=self.session.run_id,
            site=str(self.session.site.folder) if self.session.site is not None else "",
            site_digest=self.session.site.digest if self.session.site is not None else "",
            url=self.state.url,
            tls_url=self.state.tls_url,
            probes=self.state.probes,
            rounds=tuple(self.state.rounds),
            unsteady=self.state.unsteady,
        )
        self.listeners.result(result)
        return result


class _Background:
    """One call on its own thread, started now; `result` waits for it, times it as a phase and re-raises its error."""

    def __init__(self, call: Callable[[], Diagnosis]) -> None:
        self.started = time.monotonic()
        self._call = call
        self._ended = 0.0
        self._value: Diagnosis | None = None
        self._error: BaseException | None = None
        self._thread = background(self._run, name="harness-doctor")
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the drill's thread, which decides
            self._error = exc
        finally:
            self._ended = time.monotonic()

    @property
    def took(self) -> float:
        return self._ended - self.started

    def result(self, recorder: Recorder, phase: str) -> Diagnosis:
        self._thread.join()
        recorder.add_phase(phase, self.started, self._ended, self._error is None)
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _replay(target: Target) -> tuple[Sent, ...]:
    """The probe's requests exactly as it sends them, for the doctor to send again from inside."""
    checks = getattr(target, "checks", ())  # a stand-in target may name none
    return tuple(
        Sent("/" + c.path.lstrip("/"), c.host, c.scheme, "GET", (("User-Agent", USER_AGENT), *c.headers))
        for c in checks
    )


def _in_round(number: int, reason: str) -> str:
    return f"round {number}: {reason}" if number > 1 else reason


def unsteady_probes(target: Target, samples: list[Sample]) -> tuple[str, ...]:
    """One line per probe of a drill that never got steady: what it expected, what it got, and the site's limit
    that covers it, if any (harness paces itself within them, so a limit's refusal names the limit to look at)."""
    lines = []
    for check in target.checks:
        key = (f"/{check.path}", check.host, check.port)
        failed = [s for s in samples if not s.ok and (s.path, s.host, s.port) == key]
        expected = f"{check.label()}: expected {check.expectation()}" + (f" ({check.why})" if check.why else "")
        if not failed:
            lines.append(f"✓ {expected}; got it")
            continue
        got = failed[-1].detail.removeprefix(f"{check.label()}: ").removeprefix(f"GET /{check.path}: ")
        line = f"✗ {expected}; got {got} in {len(failed)} of {len(samples)} samples"
        limits = target.pacer.limits(check.host, f"/{check.path}", check.port)
        if limits and any(s.status in (429, 503) for s in failed):
            line += "; under " + ", ".join(limit.describe() for limit in limits)
        lines.append(line)
    return tuple(lines)


def _last_probe(monitor: Monitor) -> str:
    last = monitor.samples[-1]
    return f"last probe: {last.outcome.value}, {last.detail}"


def _what_failed(sample: Sample) -> tuple[tuple[str, ...], tuple[Request, ...]]:
    """What the doctor is told of a failing probe sample: the failure measured, and the request to trace."""
    request = Request(sample.path, sample.host, sample.port, symptom=sample.outcome.value)
    return (f"the probe: {sample.detail}",), (request,)


def _describe_streak(streak: Streak) -> str:
    first = streak.first
    return f"{first.outcome.value} ({first.detail}); confirmed by {len(streak.samples)} samples in a row"
