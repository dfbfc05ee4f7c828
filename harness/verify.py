"""verify-fix: prove that someone's fix restores service, twice, harmlessly and durably.

The fix replaces the remedy in an ordinary drill, so the outage is injected,
detected and measured exactly as in any drill. While that target still lives,
the further checks run on it (second run, service restart, container
restart). A second, unbroken target proves the fix harmless, and with scope
on, one target per other scenario shows what else the fix repairs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from harness.doctor import Diagnosis, Request, examine
from harness.drill import Drill, DrillOptions, Result, Verdict
from harness.errors import HarnessError, InvalidInput, RemedyError
from harness.fix import DEFAULT_FIX_TIMEOUT, FIX_DIR, Fix, FixKind, FixRun, run_fix
from harness.poll import poll_until
from harness.probe import Sample
from harness.scenario import Scenario, call_plugin
from harness.session import Session
from harness.signals import quiet
from harness.target import ExecResult, Target
from harness.timeline import EventKind

Progress = Callable[[str], None]
T = TypeVar("T")


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # its premise failed first (e.g. nothing to re-run after a timeout)
    INFO = "info"  # reported, never a failure (scope)
    ERROR = "error"  # the harness could not judge (engine trouble, target vanished)


SCOPE_SETTLE = 3.0
QUIET = 1.0  # after a fix that left nothing new running, how long port 80 may stay broken before we stop waiting
FIRST_RUN = "the broken server, first run"
SECOND_RUN = "the repaired server, second run"
HEALTHY_RUN = "a healthy server"
CHECK_ORDER = ("restores", "healthy", "idempotent", "harmless", "durable", "scope")


@dataclass(frozen=True)
class FixCheck:
    name: str
    status: CheckStatus
    summary: str
    evidence: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status in (CheckStatus.FAILED, CheckStatus.SKIPPED, CheckStatus.ERROR)


@dataclass(frozen=True)
class ScopeEntry:
    scenario: str
    repaired: bool | None  # None: could not be judged (the scenario did not break the server, or an error)
    detail: str


class FixVerdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


@dataclass(frozen=True)
class VerifyOptions:
    fix_timeout: float = DEFAULT_FIX_TIMEOUT
    settle_timeout: float = 10.0  # how long port 80 may take to serve again after a fix or a restart
    streak: int = 3
    interval: float = 0.05
    # Opt-in: one more target per scenario is minutes of work; a regression run wants the fast answer.
    scope: bool = False
    # Scope targets mostly wait (a restart's sleep, settle timeouts): 4 at once on 2 cores took 42 s, 2 took 72 s.
    jobs: int = 4


@dataclass(frozen=True)
class FixReport:
    scenario: str
    fix: Fix
    verdict: FixVerdict
    reason: str
    checks: tuple[FixCheck, ...]
    runs: tuple[FixRun, ...]
    scope: tuple[ScopeEntry, ...]
    drill: Result
    time_to_restore: float | None  # from the fix's start to the first sample of the good streak
    duration: float
    image: str

    @property
    def passed(self) -> bool:
        return self.verdict is FixVerdict.PASSED

    @property
    def first_run(self) -> FixRun | None:
        """The run on the broken server: the one that had to restore service."""
        return next((run for run in self.runs if run.where == FIRST_RUN), None)

    def run_on(self, where: str) -> FixRun | None:
        return next((run for run in self.runs if run.where == where), None)

    def check(self, name: str) -> FixCheck:
        return next(c for c in self.checks if c.name == name)

    def failed_checks(self) -> list[FixCheck]:
        return [c for c in self.checks if c.failed]

    def repairs(self) -> list[str]:
        return [entry.scenario for entry in self.scope if entry.repaired]


class _Skip(Exception):
    pass


class FixVerifier:
    def __init__(
        self,
        session: Session,
        scenario: Scenario,
        fix: Fix,
        options: VerifyOptions | None = None,
        progress: Progress = lambda line: None,
    ) -> None:
        self.session = session
        self.scenario = scenario
        self.fix = fix
        self.options = options or VerifyOptions(interval=session.settings.probe_interval)
        self.progress = progress
        self.runs: list[FixRun] = []
        self.first: FixRun | None = None  # the run on the broken server: the one that must restore service
        self.checks: dict[str, FixCheck] = {}
        self.cancelled = threading.Event()
        self._harmless_target: Target | None = None

    # -- the whole verification -----------------------------------------
    def run(self) -> FixReport:
        started = time.monotonic()
        image = self.session.image_variant(self.fix.kind.image_variant).tag
        self.progress(f"verifying {self.fix.name} against {self.scenario.name} on {image}")
        self._validate(image)
        scope: list[ScopeEntry] = []
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-harmless", initializer=quiet) as pool:
                harmless = pool.submit(self._harmless, image)
                try:
                    drill = self._drill(image)
                except BaseException:
                    self._abandon()  # before the pool waits for the harmless check to wind down
                    raise
                premise = self._premise_failed()
                if premise:
                    # A fix that did not restore service has its verdict: the rest would only cost minutes.
                    self._stop_harmless()
                    self.checks["harmless"] = _skipped("harmless", premise)
                else:
                    self.checks["harmless"] = _outcome(harmless, "harmless")
            if self.options.scope and not premise:
                scope = self._scope(image)
        except BaseException:
            self.cancelled.set()
            raise
        self.checks["scope"] = (
            _skipped("scope", premise) if premise and self.options.scope else _scope_check(scope, self.options.scope)
        )
        for name in CHECK_ORDER:
            if premise and name not in self.checks:
                self.checks[name] = _skipped(name, premise)
        checks = tuple(self.checks.get(name) or _skipped(name, "not reached") for name in CHECK_ORDER)
        verdict, reason = _verdict(drill, checks)
        return FixReport(
            scenario=self.scenario.name,
            fix=self.fix,
            verdict=verdict,
            reason=reason,
            checks=checks,
            runs=tuple(self.runs),
            scope=tuple(scope),
            drill=drill,
            time_to_restore=_time_to_restore(drill),
            duration=time.monotonic() - started,
            image=image,
        )

    def _premise_failed(self) -> str:
        """Why the later checks cannot mean anything ("" when the fix restored service)."""
        restores = self.checks.get("restores")
        if restores is None:
            return "skipped: the fix never ran on the broken server"
        if restores.status is not CheckStatus.PASSED:
            return f"skipped: restores {restores.status.value} ({restores.summary})"
        return ""

    def _stop_harmless(self) -> None:
        self.cancelled.set()
        target = self._harmless_target
        if target is not None:
            target.stop()  # its fix run, if any, ends with the container

    def _validate(self, image: str) -> None:
        """A Puppet manifest that does not parse is bad input: say so before any target is broken."""
        if self.fix.kind is not FixKind.PUPPET:
            return
        with self.session.new_target(image=image, labels={"harness.role": "validate"}) as target:
            target.exec(["mkdir", "-p", "-m", "0700", FIX_DIR], check=True)
            target.write_file(self.fix.remote_path, self.fix.content, mode=0o600)
            checked = target.exec(["puppet", "parser", "validate", "--color=false", self.fix.remote_path], timeout=60)
        if not checked.ok:
            said = " ".join(checked.output.replace(self.fix.remote_path, self.fix.name).split())
            raise InvalidInput(
                f"fix {str(self.fix.path)!r} does not parse (puppet parser validate): {said[:400]}; "
                "fix it, then verify again"
            )

    def _abandon(self) -> None:
        """Stop the other targets' work now: their steps see the cancel, or their container gone."""
        self.cancelled.set()
        self.session.remove_targets()

    def _drill(self, image: str) -> Result:
        opts = self.options
        drill_options = DrillOptions(
            streak=opts.streak,
            interval=opts.interval,
            recover_timeout=opts.settle_timeout,
            steady_timeout=opts.settle_timeout,
            detect_timeout=opts.settle_timeout,
        )
        observer = lambda event, offset: self.progress(f"{self.scenario.name} +{offset:.3f}s {event.kind.value}")  # noqa: E731
        return Drill(
            self.session,
            self.scenario,
            options=drill_options,
            repair=self._repair,
            observer=observer,
            image=image,
            aftercare=self._aftercare,
        ).run()

    # -- on the broken server --------------------------------------------
    def _repair(self, target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
        first = self.first = self._run(target, FIRST_RUN)
        if first.timed_out:
            raise RemedyError(f"the fix {first.describe()}; its output so far: {first.output_tail()}")
        return [ExecResult(tuple(self.fix.argv()), first.exit_code, first.output, "", first.duration)]

    def _aftercare(self, target: Target, verdict: Verdict) -> None:
        first = self.first
        if first is None:
            return  # the drill stopped before the fix ran: nothing to judge
        if first.timed_out:
            reason = f"the fix {first.describe()}; output so far: {first.output_tail()}"
            self.checks["restores"] = FixCheck("restores", CheckStatus.FAILED, reason)
            return
        served, sample = self._settle(target, self.options.settle_timeout if verdict is Verdict.RECOVERED else 0.5)
        after = _examine(target, served, sample)
        self.checks["restores"] = _restores(first, served, sample, after)
        self.checks["healthy"] = _healthy("after the fix", after)
        if not (served and after.healthy):
            reason = "the first run did not leave a healthy server to run it on again"
            self.checks["idempotent"] = _skipped("idempotent", reason)
            self.checks["durable"] = _skipped("durable", reason)
            return
        # Durable first: it judges what the first run left, before a second run can change it.
        self.checks["durable"] = self._durable(target)
        self.checks["idempotent"] = self._idempotent(target)

    def _idempotent(self, target: Target) -> FixCheck:
        second = self._run(target, SECOND_RUN)
        served, sample = self._settle(target, self.options.settle_timeout)
        after = _examine(target, served, sample)
        evidence = [f"second run {second.describe()}: {second.output_tail()}", _probe_line(sample), _doctor_line(after)]
        if not second.succeeded:
            return FixCheck("idempotent", CheckStatus.FAILED, f"the second run {second.describe()}", tuple(evidence))
        if second.changed:
            return FixCheck(
                "idempotent",
                CheckStatus.FAILED,
                "the manifest changed resources again on its second run",
                tuple(evidence),
            )
        if not (served and after.healthy):
            return FixCheck(
                "idempotent",
                CheckStatus.FAILED,
                f"after the second run: {_unhealthy(served, sample, after)}",
                tuple(evidence),
            )
        return FixCheck(
            "idempotent", CheckStatus.PASSED, "a second run exits 0 and the server stays healthy", tuple(evidence)
        )

    def _durable(self, target: Target) -> FixCheck:
        evidence = []
        for what, act in (
            ("service nginx restart", lambda: target.nginx.restart()),
            ("a restart of the container", lambda: target.restart()),
        ):
            act()
            served, sample = self._settle(target, self.options.settle_timeout)
            after = _examine(target, served, sample)
            evidence += [f"after {what}: {_probe_line(sample)}", f"after {what}: {_doctor_line(after)}"]
            if not (served and after.healthy):
                return FixCheck(
                    "durable", CheckStatus.FAILED, f"after {what}: {_unhealthy(served, sample, after)}", tuple(evidence)
                )
        return FixCheck(
            "durable",
            CheckStatus.PASSED,
            "still healthy after a service restart and a container restart",
            tuple(evidence),
        )

    # -- on other servers --------------------------------------------------
    def _harmless(self, image: str) -> FixCheck:
        if self.cancelled.is_set():
            raise _Skip()
        with self.session.new_target(image=image, labels={"harness.role": "harmless"}) as target:
            self._harmless_target = target
            self._require_steady(target, "a fresh, unbroken target")
            run = self._run(target, HEALTHY_RUN)
            if run.timed_out:
                return FixCheck("harmless", CheckStatus.FAILED, f"on a healthy server the fix {run.describe()}")
            served, sample = self._settle(target, self.options.settle_timeout)
            after = _examine(target, served, sample)
        evidence = (f"run {run.describe()}: {run.output_tail()}", _probe_line(sample), _doctor_line(after))
        if not run.succeeded:
            return FixCheck("harmless", CheckStatus.FAILED, f"on a healthy server the fix {run.describe()}", evidence)
        if not (served and after.healthy):
            return FixCheck(
                "harmless",
                CheckStatus.FAILED,
                f"it broke a healthy server: {_unhealthy(served, sample, after)}",
                evidence,
            )
        return FixCheck(
            "harmless", CheckStatus.PASSED, "on a healthy server it exits 0 and leaves it healthy", evidence
        )

    def _scope(self, image: str) -> list[ScopeEntry]:
        applicable, _ = self.session.scenarios()
        others = [s.name for s in applicable if s.name != self.scenario.name]
        self.progress(f"scope: trying {self.fix.name} against {len(others)} other scenarios")
        with ThreadPoolExecutor(
            max_workers=self.options.jobs, thread_name_prefix="harness-scope", initializer=quiet
        ) as pool:
            futures = {name: pool.submit(self._scope_one, self.session.catalogue.get(name), image) for name in others}
            try:
                return [_scope_outcome(name, future) for name, future in futures.items()]
            except BaseException:
                self._abandon()
                raise

    def _scope_one(self, scenario: Scenario, image: str) -> ScopeEntry:
        if self.cancelled.is_set():
            return ScopeEntry(scenario.name, None, "cancelled")
        labels = {"harness.scenario": scenario.name, "harness.role": "scope"}
        with self.session.new_target(capabilities=scenario.capabilities, labels=labels, image=image) as target:
            self._require_steady(target, f"the {scenario.name} target")
            target.require_managed()
            call_plugin(scenario.name, "inject", scenario.inject, target)
            if self._doctor_finds_fault(target) is None:
                return ScopeEntry(scenario.name, None, "the scenario did not break the server; cannot judge")
            before = target.processes()
            run = self._run(target, f"the {scenario.name} server", keep=False)
            if run.timed_out:
                return ScopeEntry(scenario.name, False, f"the fix {run.describe()}")
            # The fix has returned, so its restart is done: a server it repaired serves within moments.
            served, sample = self._settle(target, min(self.options.settle_timeout, SCOPE_SETTLE), before)
            after = _examine(target, served, sample)
        if served and after.healthy:
            return ScopeEntry(scenario.name, True, f"the fix {run.describe()}")
        return ScopeEntry(scenario.name, False, _unhealthy(served, sample, after))

    # -- helpers ----------------------------------------------------------
    def _run(self, target: Target, where: str, keep: bool = True) -> FixRun:
        if self.cancelled.is_set():
            raise _Skip()
        run = run_fix(target, self.fix, where, timeout=self.options.fix_timeout)
        if keep:
            self.runs.append(run)
        self.progress(f"{self.fix.name} on {where}: {run.describe()}")
        return run

    def _settle(
        self, target: Target, timeout: float, before: frozenset[tuple[int, str]] = frozenset()
    ) -> tuple[bool, Sample]:
        """Whether port 80 serves our page from nginx STREAK times in a row within TIMEOUT; the last sample.

        Given BEFORE (what ran before the fix), it gives up sooner: once the fix has left nothing new running
        for QUIET seconds while port 80 still fails, nothing more is coming.
        """
        probe = target.probe(self.session.settings.probe_timeout)
        started = time.monotonic()
        deadline, good, looked = started + timeout, 0, started
        try:
            while True:
                sample = probe.sample()
                good = good + 1 if sample.ok else 0
                if good >= self.options.streak:
                    return True, sample
                now = time.monotonic()
                if now >= deadline or self.cancelled.is_set():
                    return False, sample
                if before and not sample.ok and now - started >= QUIET and now - looked >= 0.25:
                    looked = now
                    if not target.processes() - before:
                        return False, sample
                time.sleep(self.options.interval)
        finally:
            probe.close()

    def _require_steady(self, target: Target, what: str) -> None:
        served, sample = self._settle(target, self.options.settle_timeout)
        baseline = _examine(target, served, sample)
        if not (served and baseline.healthy):
            raise HarnessError(f"{what} was not healthy before the fix ran: {_unhealthy(served, sample, baseline)}")

    def _doctor_finds_fault(self, target: Target, wait: float = 3.0) -> Diagnosis | None:
        """Some faults take a moment to show (an app that crashes at startup); look a few times."""

        def fault() -> Diagnosis | None:
            diagnosis = examine(target)
            return None if diagnosis.healthy else diagnosis

        return poll_until(fault, timeout=wait, interval=0.3, what="the doctor to find the fault")


def verify_fix(
    session: Session,
    scenario: Scenario,
    fix: Fix,
    options: VerifyOptions | None = None,
    progress: Progress | None = None,
) -> FixReport:
    return FixVerifier(session, scenario, fix, options, progress or (lambda line: None)).run()


def _restores(first: FixRun, served: bool, sample: Sample, after: Diagnosis) -> FixCheck:
    owners = sorted({name for item in after.facts.listeners_on(80) for name, _ in item.users}) or ["nothing"]
    evidence = (
        f"first run {first.describe()}: {first.output_tail()}",
        _probe_line(sample),
        f"inside the server, port 80 is held by: {', '.join(owners)}",
    )
    if served and after.facts.nginx_listens_on(80):
        return FixCheck("restores", CheckStatus.PASSED, "port 80 serves the expected page, from nginx", evidence)
    why = f"last probe {sample.outcome.value}: {sample.detail}" if not served else "port 80 is not held by nginx"
    return FixCheck("restores", CheckStatus.FAILED, f"port 80 was not restored ({why})", evidence)


def _healthy(when: str, diagnosis: Diagnosis) -> FixCheck:
    evidence = (_doctor_line(diagnosis), *diagnosis.evidence)
    if diagnosis.healthy:
        return FixCheck("healthy", CheckStatus.PASSED, diagnosis.summary, evidence)
    return FixCheck(
        "healthy", CheckStatus.FAILED, f"{when} the doctor finds {diagnosis.cause}: {diagnosis.summary}", evidence
    )


def _probe_line(sample: Sample) -> str:
    return f"probe: {sample.outcome.value} ({sample.detail})"


def _doctor_line(diagnosis: Diagnosis) -> str:
    return f"doctor: {diagnosis.cause} ({diagnosis.summary})"


def _unhealthy(served: bool, sample: Sample, diagnosis: Diagnosis) -> str:
    if not served:
        return f"port 80 does not serve the page ({sample.outcome.value}: {sample.detail})"
    return f"the doctor finds {diagnosis.cause}: {diagnosis.summary}"


def _skipped(name: str, reason: str) -> FixCheck:
    return FixCheck(name, CheckStatus.SKIPPED, reason)


def _awaited(future: Future[T]) -> T:
    """The future's result, waited for in short steps: a Ctrl-C the kernel hands to another thread reaches
    Python only when the main thread runs again."""
    while True:
        try:
            return future.result(timeout=0.1)
        except TimeoutError:
            if future.done():
                raise  # the call itself raised it
            continue


def _outcome(future: Future[FixCheck], name: str) -> FixCheck:
    try:
        return _awaited(future)
    except _Skip:
        return _skipped(name, "cancelled")
    except HarnessError as exc:
        return FixCheck(name, CheckStatus.ERROR, f"could not be judged: {exc}")


def _scope_outcome(name: str, future: Future[ScopeEntry]) -> ScopeEntry:
    try:
        return _awaited(future)
    except _Skip:
        return ScopeEntry(name, None, "cancelled")
    except HarnessError as exc:
        return ScopeEntry(name, None, f"could not be judged: {exc}")


def _scope_check(scope: list[ScopeEntry], asked: bool) -> FixCheck:
    if not asked:
        return FixCheck("scope", CheckStatus.INFO, "not tried (pass --scope to try the fix on every other scenario)")
    repaired = [e.scenario for e in scope if e.repaired]
    evidence = tuple(
        f"{e.scenario}: {'repairs' if e.repaired else 'does not repair' if e.repaired is False else 'not judged'}"
        f" ({e.detail})"
        # Repaired first: with the terminal showing a few lines per check, those are the news.
        for e in sorted(scope, key=lambda e: (e.repaired is not True, e.repaired is None))
    )
    summary = f"also repairs {len(repaired)} of {len(scope)} other scenarios" + (
        f": {', '.join(repaired)}" if repaired else ""
    )
    return FixCheck("scope", CheckStatus.INFO, summary, evidence)


def _verdict(drill: Result, checks: tuple[FixCheck, ...]) -> tuple[FixVerdict, str]:
    if drill.verdict in (Verdict.ERROR, Verdict.NOT_STEADY):
        return FixVerdict.ERROR, f"the drill could not run the fix: {drill.reason}"
    if drill.verdict is Verdict.NOT_DETECTED:
        return FixVerdict.ERROR, f"the scenario did not break the server, so the fix cannot be judged: {drill.reason}"
    errors = [c for c in checks if c.status is CheckStatus.ERROR]
    if errors:
        return FixVerdict.ERROR, "; ".join(f"{c.name}: {c.summary}" for c in errors)
    # The checks that failed say why; the ones skipped because of them would only repeat it.
    failed = [c for c in checks if c.status is CheckStatus.FAILED] or [c for c in checks if c.failed]
    if failed:
        return FixVerdict.FAILED, "; ".join(f"{c.name}: {c.summary}" for c in failed)
    return FixVerdict.PASSED, "the fix restores service, is idempotent, harmless and durable"


def _time_to_restore(drill: Result) -> float | None:
    started = drill.timeline.at(EventKind.REPAIR_STARTED)
    recovered = drill.timeline.at(EventKind.RECOVERED)
    return recovered.t - started.t if started and recovered else None


def _examine(target: Target, served: bool, sample: Sample) -> Diagnosis:
    """The doctor, told what the probe just saw: it may not call a server healthy that does not serve."""
    if served:
        return examine(target)
    return examine(
        target,
        (f"the probe: {sample.detail}",),
        (Request(sample.path, sample.host, sample.port, symptom=sample.outcome.value),),
    )


def _request(sample: Sample) -> Request:
    return Request(sample.path, sample.host, sample.port, symptom=sample.outcome.value)
