"""verify-fix's checks: small functions over one shared context, each returning its FixCheck.

The checks on the repaired server run in order once the drill has its
verdict, on the drill's own target: restores, healthy, durable, idempotent
(durable before idempotent, so it judges what the first run left). The checks
on servers of their own, harmless and each scope entry, start their own
targets. A check whose premise failed raises Skip; one the harness could not
judge (engine trouble, a target gone) becomes an error, never a pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from harness.doctor import Diagnosis, Request, examine
from harness.drill import DrillOptions, load_burst
from harness.errors import HarnessError
from harness.fix import DEFAULT_FIX_TIMEOUT, Fix, FixRun, run_fix
from harness.poll import poll_until
from harness.probe import Probe, Sample
from harness.scenario import Scenario, call_plugin
from harness.session import Session
from harness.symptom import Symptom
from harness.target import Target

Progress = Callable[[str], None]

SCOPE_SETTLE = 3.0
# The drill's burst, so that a scope entry and a drill judge load the same way.
LOAD_REQUESTS, LOAD_CONCURRENCY = DrillOptions.load_requests, DrillOptions.load_concurrency
# After a fix that left nothing new running, how long port 80 may stay broken before we stop waiting: the drill's
# own rule for a repair, so that a fix and a repair are given up on alike.
QUIET = DrillOptions.quiet
FIRST_RUN = "the broken server, first run"
SECOND_RUN = "the repaired server, second run"
HEALTHY_RUN = "a healthy server"


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # its premise failed first (e.g. nothing to re-run after a timeout)
    INFO = "info"  # reported, never a failure (scope)
    ERROR = "error"  # the harness could not judge (engine trouble, target vanished)


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


@dataclass(frozen=True)
class VerifyOptions:
    fix_timeout: float = DEFAULT_FIX_TIMEOUT
    settle_timeout: float = 10.0  # how long port 80 may take to serve again after a fix or a restart
    streak: int = 3
    interval: float = 0.05
    # Opt-in: one more target per scenario is minutes of work; a regression run wants the fast answer.
    scope: bool = False
    # Scope targets mostly wait (a restart's sleep, settle timeouts): on 2 cores 8 at once took 38.5 s, 6 40 s, 4 42 s.
    jobs: int = 8


class Skip(Exception):
    """A check's premise failed (or the verification was cancelled): SKIPPED, with this reason."""


class Looked(NamedTuple):
    """A server after something was done to it: did port 80 serve, the last sample, and the doctor's view."""

    served: bool
    sample: Sample
    diagnosis: Diagnosis

    @property
    def healthy(self) -> bool:
        return self.served and self.diagnosis.healthy

    def trouble(self) -> str:
        if not self.served:
            return f"port 80 does not serve the page ({self.sample.outcome.value}: {self.sample.detail})"
        return f"the doctor finds {self.diagnosis.cause}: {self.diagnosis.summary}"

    def lines(self, prefix: str = "") -> tuple[str, str]:
        return prefix + _probe_line(self.sample), prefix + _doctor_line(self.diagnosis)


@dataclass
class FixContext:
    """What the checks share. `runs` is appended from the drill's thread and the harmless check's."""

    session: Session
    scenario: Scenario
    fix: Fix
    options: VerifyOptions
    image: str
    progress: Progress = lambda line: None
    cancelled: threading.Event = field(default_factory=threading.Event)
    first: FixRun | None = None  # the run on the broken server: the one that must restore service
    after_first: Looked | None = None  # the repaired server as the first run left it
    checks: dict[str, FixCheck] = field(default_factory=dict)  # by name, as they are judged
    _runs: list[FixRun] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def runs(self) -> tuple[FixRun, ...]:
        with self._lock:
            return tuple(self._runs)

    def run(self, target: Target, where: str, keep: bool = True) -> FixRun:
        if self.cancelled.is_set():
            raise Skip("cancelled")
        run = run_fix(target, self.fix, where, timeout=self.options.fix_timeout)
        if keep:
            with self._lock:
                self._runs.append(run)
        self.progress(f"{self.fix.name} on {where}: {run.describe()}")
        return run

    def settle(self, target: Target, timeout: float, before: frozenset[tuple[int, str]] = frozenset()) -> Looked:
        """Port 80 serving our page from nginx STREAK times in a row within TIMEOUT, then the doctor's view.

        Given BEFORE (what ran before the fix), it gives up sooner: once the fix has left nothing new running
        for QUIET seconds while port 80 still fails, nothing more is coming.
        """
        probe = target.probe(self.session.settings.probe_timeout)
        started = time.monotonic()
        samples: list[Sample] = []
        good, looked = 0, started

        def look() -> bool | None:
            """True once served, False when there is no point in waiting longer, None to look again."""
            nonlocal good, looked
            samples.append(probe.sample())
            good = good + 1 if samples[-1].ok else 0
            if good >= self.options.streak:
                return True
            now = time.monotonic()
            if self.cancelled.is_set():
                return False
            if before and not samples[-1].ok and now - started >= QUIET and now - looked >= 0.25:
                looked = now
                if not target.processes() - before:
                    return False
            return None

        try:
            what = f"port 80 of {target.name} to serve {self.options.streak} times in a row"
            served = bool(poll_until(look, timeout=timeout, interval=self.options.interval, what=what))
        finally:
            probe.close()
        sample = samples[-1]
        return Looked(served, sample, _examine(target, served, sample))

    def require_steady(self, target: Target, what: str) -> None:
        baseline = self.settle(target, self.options.settle_timeout)
        if not baseline.healthy:
            raise HarnessError(f"{what} was not healthy before the fix ran: {baseline.trouble()}")


# -- on the repaired server (the drill's target, once it has its verdict) ------------------------------------


def restores(ctx: FixContext, target: Target, recovered: bool) -> FixCheck:
    first = ctx.first
    assert first is not None  # the runner calls no check before the fix has run
    if first.timed_out:
        reason = f"the fix {first.describe()}; output so far: {first.output_tail()}"
        return FixCheck("restores", CheckStatus.FAILED, reason)
    # A drill that saw no recovery has waited already: one short look is enough.
    after = ctx.after_first = ctx.settle(target, ctx.options.settle_timeout if recovered else 0.5)
    owners = sorted({name for item in after.diagnosis.facts.listeners_on(80) for name, _ in item.users})
    evidence = (
        f"first run {first.describe()}: {first.output_tail()}",
        _probe_line(after.sample),
        f"inside the server, port 80 is held by: {', '.join(owners or ['nothing'])}",
    )
    if after.served and after.diagnosis.facts.nginx_listens_on(80):
        return FixCheck("restores", CheckStatus.PASSED, "port 80 serves the expected page, from nginx", evidence)
    sample = after.sample
    why = f"last probe {sample.outcome.value}: {sample.detail}" if not after.served else "port 80 is not held by nginx"
    return FixCheck("restores", CheckStatus.FAILED, f"port 80 was not restored ({why})", evidence)


def healthy(ctx: FixContext, target: Target, recovered: bool) -> FixCheck:
    after = _left_by_first(ctx, need_healthy=False)
    diagnosis = after.diagnosis
    evidence = (_doctor_line(diagnosis), *diagnosis.evidence)
    if diagnosis.healthy:
        return FixCheck("healthy", CheckStatus.PASSED, diagnosis.summary, evidence)
    summary = f"after the fix the doctor finds {diagnosis.cause}: {diagnosis.summary}"
    return FixCheck("healthy", CheckStatus.FAILED, summary, evidence)


def durable(ctx: FixContext, target: Target, recovered: bool) -> FixCheck:
    _left_by_first(ctx, need_healthy=True)
    evidence: list[str] = []
    for what, act in (
        ("service nginx restart", lambda: target.nginx.restart()),
        ("a restart of the container", lambda: target.restart()),
    ):
        act()
        after = ctx.settle(target, ctx.options.settle_timeout)
        evidence += after.lines(f"after {what}: ")
        if not after.healthy:
            return FixCheck("durable", CheckStatus.FAILED, f"after {what}: {after.trouble()}", tuple(evidence))
    summary = "still healthy after a service restart and a container restart"
    return FixCheck("durable", CheckStatus.PASSED, summary, tuple(evidence))


def idempotent(ctx: FixContext, target: Target, recovered: bool) -> FixCheck:
    _left_by_first(ctx, need_healthy=True)
    second = ctx.run(target, SECOND_RUN)
    after = ctx.settle(target, ctx.options.settle_timeout)
    evidence = (f"second run {second.describe()}: {second.output_tail()}", *after.lines())
    if not second.succeeded:
        return FixCheck("idempotent", CheckStatus.FAILED, f"the second run {second.describe()}", evidence)
    if second.changed:
        summary = "the manifest changed resources again on its second run"
        return FixCheck("idempotent", CheckStatus.FAILED, summary, evidence)
    if not after.healthy:
        return FixCheck("idempotent", CheckStatus.FAILED, f"after the second run: {after.trouble()}", evidence)
    summary = "a second run exits 0 and the server stays healthy"
    return FixCheck("idempotent", CheckStatus.PASSED, summary, evidence)


ServerCheck = Callable[[FixContext, Target, bool], FixCheck]
# In the order they run: durable judges what the first run left, before a second run can change it.
ON_THE_REPAIRED_SERVER: tuple[ServerCheck, ...] = (restores, healthy, durable, idempotent)


def premise_failed(ctx: FixContext) -> str:
    """Why the later checks cannot mean anything ("" when the fix restored service)."""
    restores = ctx.checks.get("restores")
    if restores is None:
        return "the fix never ran on the broken server"
    if restores.status is not CheckStatus.PASSED:
        return f"restores {restores.status.value} ({restores.summary})"
    return ""


def _left_by_first(ctx: FixContext, need_healthy: bool) -> Looked:
    after = ctx.after_first
    if after is None:
        raise Skip(premise_failed(ctx))
    if need_healthy and not after.healthy:
        raise Skip("the first run did not leave a healthy server to run it on again")
    return after


# -- on servers of their own -------------------------------------------------------------------------------


def harmless(ctx: FixContext, on_target: Callable[[Target], None] = lambda target: None) -> FixCheck:
    """The fix on a fresh, unbroken target exits 0 and leaves it healthy. ON_TARGET learns the target, so the
    verification can remove it early once the verdict is known."""
    if ctx.cancelled.is_set():
        raise Skip("cancelled")
    with ctx.session.new_target(image=ctx.image, labels={"harness.role": "harmless"}) as target:
        on_target(target)
        ctx.require_steady(target, "a fresh, unbroken target")
        run = ctx.run(target, HEALTHY_RUN)
        if run.timed_out:
            return FixCheck("harmless", CheckStatus.FAILED, f"on a healthy server the fix {run.describe()}")
        after = ctx.settle(target, ctx.options.settle_timeout)
    evidence = (f"run {run.describe()}: {run.output_tail()}", *after.lines())
    if not run.succeeded:
        return FixCheck("harmless", CheckStatus.FAILED, f"on a healthy server the fix {run.describe()}", evidence)
    if not after.healthy:
        return FixCheck("harmless", CheckStatus.FAILED, f"it broke a healthy server: {after.trouble()}", evidence)
    summary = "on a healthy server it exits 0 and leaves it healthy"
    return FixCheck("harmless", CheckStatus.PASSED, summary, evidence)


def scope_one(ctx: FixContext, scenario: Scenario) -> ScopeEntry:
    """Whether the fix also repairs SCENARIO, on a target of its own."""
    if ctx.cancelled.is_set():
        return ScopeEntry(scenario.name, None, "cancelled")
    labels = {"harness.scenario": scenario.name, "harness.role": "scope"}
    with ctx.session.new_target(capabilities=scenario.capabilities, labels=labels, image=ctx.image) as target:
        ctx.require_steady(target, f"the {scenario.name} target")
        target.require_managed()
        call_plugin(scenario.name, "inject", scenario.inject, target)
        # A fault that only concurrent clients meet is judged as a drill judges it: by a burst, before and after.
        under_load = scenario.symptom is Symptom.FAILS_UNDER_LOAD
        found = _doctor_finds_fault(target, target.probe(ctx.session.settings.probe_timeout))
        if found is None and not (under_load and _burst_fails(target)):
            return ScopeEntry(scenario.name, None, "the scenario did not break the server; cannot judge")
        before = target.processes()
        run = ctx.run(target, f"the {scenario.name} server", keep=False)
        if run.timed_out:
            return ScopeEntry(scenario.name, False, f"the fix {run.describe()}")
        # The fix has returned, so its restart is done: a server it repaired serves within moments.
        after = ctx.settle(target, min(ctx.options.settle_timeout, SCOPE_SETTLE), before)
        if after.healthy and under_load:
            report = load_burst(target, LOAD_REQUESTS, LOAD_CONCURRENCY)
            if report is not None and report.degraded:
                return ScopeEntry(scenario.name, False, f"after the fix, a load burst: {report.describe()}")
    if after.healthy:
        return ScopeEntry(scenario.name, True, f"the fix {run.describe()}")
    return ScopeEntry(scenario.name, False, after.trouble())


def _burst_fails(target: Target) -> bool:
    report = load_burst(target, LOAD_REQUESTS, LOAD_CONCURRENCY)
    return report is not None and report.degraded


def scope_check(scope: list[ScopeEntry], asked: bool) -> FixCheck:
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


# -- judging -------------------------------------------------------------------------------------------------


def judged(name: str, check: Callable[[], FixCheck]) -> FixCheck:
    """One check's result: its own, SKIPPED when its premise failed, ERROR when the harness could not judge."""
    try:
        return check()
    except Skip as skip:
        return FixCheck(name, CheckStatus.SKIPPED, str(skip))
    except HarnessError as exc:
        return FixCheck(name, CheckStatus.ERROR, f"could not be judged: {exc}")


def skipped(name: str, reason: str) -> FixCheck:
    return FixCheck(name, CheckStatus.SKIPPED, reason)


def _doctor_finds_fault(target: Target, probe: Probe, wait: float = 3.0) -> Diagnosis | None:
    """The doctor's view of a target just broken, told what a request to port 80 meets, as in a drill: a page
    that is refused or 403 shows only in the request. Some faults take a moment to show (an app that crashes at
    startup): look a few times."""

    def fault() -> Diagnosis | None:
        sample = probe.sample()
        diagnosis = _examine(target, sample.ok, sample)
        return None if diagnosis.healthy else diagnosis

    try:
        return poll_until(fault, timeout=wait, interval=0.3, what="the doctor to find the fault")
    finally:
        probe.close()


def _probe_line(sample: Sample) -> str:
    return f"probe: {sample.outcome.value} ({sample.detail})"


def _doctor_line(diagnosis: Diagnosis) -> str:
    return f"doctor: {diagnosis.cause} ({diagnosis.summary})"


def _examine(target: Target, served: bool, sample: Sample) -> Diagnosis:
    """The doctor, told what the probe just saw: it may not call a server healthy that does not serve."""
    if served:
        return examine(target)
    return examine(
        target,
        (f"the probe: {sample.detail}",),
        (Request(sample.path, sample.host, sample.port, symptom=sample.outcome.value),),
    )
