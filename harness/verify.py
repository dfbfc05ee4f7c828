"""verify-fix: prove that someone's fix restores service, twice, harmlessly and durably.

The fix replaces the remedy in an ordinary drill, so the outage is injected,
detected and measured exactly as in any drill. Once that drill has its
verdict, while its target still lives, the checks on the repaired server run
on it (harness.fix_checks). A second, unbroken target proves the fix
harmless, and with scope on, one target per other scenario shows what else
the fix repairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TypeVar

from harness.command import ExecResult
from harness.doctor import Diagnosis
from harness.drill import Drill, DrillOptions
from harness.errors import HarnessError, InvalidInput, RemedyError
from harness.fix import FIX_DIR, Fix, FixKind, FixRun
from harness.fix_checks import (
    FIRST_RUN,
    HEALTHY_RUN,
    ON_THE_REPAIRED_SERVER,
    SECOND_RUN,
    CheckStatus,
    FixCheck,
    FixContext,
    ScopeEntry,
    Skip,
    VerifyOptions,
    harmless,
    judged,
    premise_failed,
    scope_check,
    scope_one,
    skipped,
)
from harness.listeners import DrillListener
from harness.outcome import Result, Verdict
from harness.scenario import Scenario
from harness.session import Session
from harness.signals import quiet
from harness.target import Target
from harness.timeline import Event, EventKind

__all__ = [
    "FIRST_RUN",
    "HEALTHY_RUN",
    "SECOND_RUN",
    "CheckStatus",
    "FixCheck",
    "FixReport",
    "FixVerdict",
    "ScopeEntry",
    "VerifyOptions",
    "verify_fix",
]

Progress = Callable[[str], None]
T = TypeVar("T")
CHECK_ORDER = ("restores", "healthy", "idempotent", "harmless", "durable", "scope")  # as reported


class FixVerdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


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


class _TheFixAsRepair(DrillListener):
    """The drill's side of verify-fix: progress per event, and the checks on the repaired server once the
    drill has its verdict."""

    def __init__(self, ctx: FixContext) -> None:
        self.ctx = ctx

    def repair(self, target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
        first = self.ctx.first = self.ctx.run(target, FIRST_RUN)
        if first.timed_out:
            raise RemedyError(f"the fix {first.describe()}; its output so far: {first.output_tail()}")
        return [ExecResult(tuple(self.ctx.fix.argv()), first.exit_code, first.output, "", first.duration)]

    def on_event(self, event: Event, offset: float) -> None:
        self.ctx.progress(f"{self.ctx.scenario.name} +{offset:.3f}s {event.kind.value}")

    def on_verdict(self, target: Target, verdict: Verdict) -> None:
        ctx = self.ctx
        if ctx.first is None:
            return  # the drill stopped before the fix ran: nothing to judge
        for check in ON_THE_REPAIRED_SERVER:
            name = check.__name__
            ctx.checks[name] = judged(name, partial(check, ctx, target, verdict is Verdict.RECOVERED))
            if name == "restores" and ctx.after_first is None:
                return  # it timed out: the rest are skipped on its account


class FixVerifier:
    """Orchestration only: the drill with the fix as its repair, harmless beside it, scope after."""

    def __init__(
        self,
        session: Session,
        scenario: Scenario,
        fix: Fix,
        options: VerifyOptions | None = None,
        progress: Progress = lambda line: None,
    ) -> None:
        self.session = session
        image = session.image_variant(fix.kind.image_variant).tag
        options = options or VerifyOptions(interval=session.settings.probe_interval)
        self.ctx = FixContext(session, scenario, fix, options, image, progress)
        self._harmless_target: Target | None = None

    def run(self) -> FixReport:
        ctx, started = self.ctx, time.monotonic()
        ctx.progress(f"verifying {ctx.fix.name} against {ctx.scenario.name} on {ctx.image}")
        self._validate()
        scope: list[ScopeEntry] = []
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-harmless", initializer=quiet) as pool:
                beside = pool.submit(harmless, ctx, self._note_harmless_target)
                try:
                    drill = self._drill()
                except BaseException:
                    self._abandon()  # before the pool waits for the harmless check to wind down
                    raise
                premise = premise_failed(ctx)
                if premise:
                    # A fix that did not restore service has its verdict: the rest would only cost minutes.
                    self._stop_harmless()
                    ctx.checks["harmless"] = skipped("harmless", premise)
                else:
                    ctx.checks["harmless"] = judged("harmless", lambda: _awaited(beside))
            if ctx.options.scope and not premise:
                scope = self._scope()
        except BaseException:
            ctx.cancelled.set()
            raise
        ctx.checks["scope"] = (
            skipped("scope", premise) if premise and ctx.options.scope else scope_check(scope, ctx.options.scope)
        )
        checks = tuple(ctx.checks.get(name) or skipped(name, premise or "not reached") for name in CHECK_ORDER)
        verdict, reason = _verdict(drill, checks)
        return FixReport(
            scenario=ctx.scenario.name,
            fix=ctx.fix,
            verdict=verdict,
            reason=reason,
            checks=checks,
            runs=ctx.runs,
            scope=tuple(scope),
            drill=drill,
            time_to_restore=_time_to_restore(drill),
            duration=time.monotonic() - started,
            image=ctx.image,
        )

    def _drill(self) -> Result:
        opts = self.ctx.options
        drill_options = DrillOptions(
            streak=opts.streak,
            interval=opts.interval,
            recover_timeout=opts.settle_timeout,
            steady_timeout=opts.settle_timeout,
            detect_timeout=opts.settle_timeout,
        )
        fix = _TheFixAsRepair(self.ctx)
        return Drill(
            self.session,
            self.ctx.scenario,
            options=drill_options,
            repair=fix.repair,
            listeners=[fix],
            image=self.ctx.image,
        ).run()

    def _scope(self) -> list[ScopeEntry]:
        ctx = self.ctx
        applicable, _ = self.session.scenarios()
        others = [s.name for s in applicable if s.name != ctx.scenario.name]
        ctx.progress(f"scope: trying {ctx.fix.name} against {len(others)} other scenarios")
        with ThreadPoolExecutor(
            max_workers=ctx.options.jobs, thread_name_prefix="harness-scope", initializer=quiet
        ) as pool:
            futures = {name: pool.submit(scope_one, ctx, self.session.catalogue.get(name)) for name in others}
            try:
                return [_scope_outcome(name, future) for name, future in futures.items()]
            except BaseException:
                self._abandon()
                raise

    def _validate(self) -> None:
        """A Puppet manifest that does not parse is bad input: say so before any target is broken."""
        fix = self.ctx.fix
        if fix.kind is not FixKind.PUPPET:
            return
        with self.session.new_target(image=self.ctx.image, labels={"harness.role": "validate"}) as target:
            target.exec(["mkdir", "-p", "-m", "0700", FIX_DIR], check=True)
            target.write_file(fix.remote_path, fix.content, mode=0o600)
            checked = target.exec(["puppet", "parser", "validate", "--color=false", fix.remote_path], timeout=60)
        if not checked.ok:
            said = " ".join(checked.output.replace(fix.remote_path, fix.name).split())
            raise InvalidInput(
                f"fix {str(fix.path)!r} does not parse (puppet parser validate): {said[:400]}; "
                "fix it, then verify again"
            )

    def _note_harmless_target(self, target: Target) -> None:
        self._harmless_target = target

    def _stop_harmless(self) -> None:
        self.ctx.cancelled.set()
        target = self._harmless_target
        if target is not None:
            target.stop()  # its fix run, if any, ends with the container

    def _abandon(self) -> None:
        """Stop the other targets' work now: their steps see the cancel, or their container gone."""
        self.ctx.cancelled.set()
        self.session.remove_targets()


def verify_fix(
    session: Session,
    scenario: Scenario,
    fix: Fix,
    options: VerifyOptions | None = None,
    progress: Progress | None = None,
) -> FixReport:
    return FixVerifier(session, scenario, fix, options, progress or (lambda line: None)).run()


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


def _scope_outcome(name: str, future: Future[ScopeEntry]) -> ScopeEntry:
    try:
        return _awaited(future)
    except Skip:
        return ScopeEntry(name, None, "cancelled")
    except HarnessError as exc:
        return ScopeEntry(name, None, f"could not be judged: {exc}")


def _verdict(drill: Result, checks: tuple[FixCheck, ...]) -> tuple[FixVerdict, str]:
    if drill.verdict in (Verdict.ERROR, Verdict.NOT_STEADY):
        return FixVerdict.ERROR, f"the drill could not run the fix: {drill.reason}"
    if drill.verdict in (Verdict.NOT_DETECTED, Verdict.WITHSTOOD):
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
