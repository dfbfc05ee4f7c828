"""`harness drill SCENARIO`: one measured drill on a fresh target."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import click
from rich.status import Status

from harness.cli import BAD_INPUT, HARNESS_ERROR, JOURNAL, PASSED, SITE, VERDICT_FAILED, cli, progress, stderr, stdout
from harness.cli.history import FAIL_IF_SLOWER, open_store, record
from harness.cli.report import REPORT, write_report
from harness.drill import Drill, DrillInterrupted, DrillOptions
from harness.history import ResultStore
from harness.listeners import observing
from harness.outcome import Result, Verdict
from harness.records import run_of_drill
from harness.report import render_result, render_results, results_to_dict
from harness.scenario import Scenario
from harness.session import Session
from harness.signals import quiet
from harness.site import Site
from harness.targets import TargetSource, WarmTargets
from harness.timeline import Event


class _NotStarted(Exception):
    """A queued drill that found the run interrupted before it began: it started nothing."""


# How long running drills get to wind down after Ctrl-C before the summary is printed.
INTERRUPT_GRACE = 1.5


def exit_code(result: Result) -> int:
    if result.passed:
        return PASSED
    if result.verdict is Verdict.NOT_STEADY and result.site and result.unsteady:
        return BAD_INPUT  # a probe of the team's site did not hold before any fault: the site or its settings to fix
    if result.verdict in (Verdict.ERROR, Verdict.NOT_STEADY):
        return HARNESS_ERROR
    return VERDICT_FAILED


@cli.command("drill")
@click.argument("scenarios", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Drill every scenario in the catalogue, one after another.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (progress still goes to stderr).")
@click.option("--interval", type=click.FloatRange(5, 10_000), default=None, help="Probe interval in ms [default: 50].")
@click.option(
    "--streak",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="Consecutive samples that confirm a state change.",
)
@click.option(
    "--phase-timeout",
    type=click.FloatRange(1, 3600),
    default=None,
    help="Seconds each wait (steady, detect, recover) may take [default: 20].",
)
@click.option(
    "--load",
    "load_requests",
    type=click.IntRange(1, 1_000_000),
    default=2000,
    show_default=True,
    help="Requests in a load burst (sent when single requests stay fine after the injection).",
)
@click.option(
    "--clients",
    "load_clients",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Concurrent clients in a load burst.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Drill this many scenarios at once, each on its own target.",
)
@click.option(
    "--timeout",
    "drill_timeout",
    type=click.FloatRange(1, 86_400),
    default=None,
    help="Seconds a whole drill may take, start to teardown; past it the drill ends as an error.",
)
@JOURNAL
@REPORT
@SITE
@FAIL_IF_SLOWER
def drill_command(
    scenarios: tuple[str, ...],
    run_all: bool,
    as_json: bool,
    interval: float | None,
    streak: int,
    phase_timeout: float | None,
    load_requests: int,
    load_clients: int,
    jobs: int,
    drill_timeout: float | None,
    fail_if_slower: float | None,
    site: Site | None,
    journal: Path | None,
    report: Path | None,
) -> int:
    """Break a fresh target with SCENARIO, then detect, diagnose, repair and verify it.

    Several SCENARIOS, or --all for the whole catalogue, run one after another
    on fresh targets and end with a table and the doctor's diagnosis accuracy.
    """
    if run_all == bool(scenarios):
        raise click.UsageError("name a SCENARIO (or several) or pass --all (see `harness list`)")
    repeated = sorted({name for name in scenarios if scenarios.count(name) > 1})
    if repeated:
        # One target per scenario and one row per scenario in the table: a repeat would only be ambiguous.
        raise click.UsageError(
            f"scenario {repeated[0]!r} is named twice; name each scenario once (or use `harness soak`)"
        )
    with Session(progress=progress, site=site) as session:
        # Bad names, and scenarios that cannot apply to the site, fail before any container starts.
        chosen, skipped = session.scenarios(None if run_all else list(scenarios))
        resolved = [s.name for s in chosen]
        clash = sorted({name for name in resolved if resolved.count(name) > 1})
        if clash:
            raise click.UsageError(f"two of the scenarios named are both called {clash[0]!r}; drill each once")
        for name, reason in skipped:
            progress(f"skipped {name}: {reason}")
        settings = session.settings
        store = open_store(settings)
        wait = phase_timeout or settings.phase_timeout
        options = DrillOptions(
            streak=streak,
            interval=(interval / 1000) if interval else settings.probe_interval,
            steady_timeout=wait,
            detect_timeout=wait,
            recover_timeout=wait,
            load_requests=load_requests,
            load_concurrency=load_clients,
            timeout=drill_timeout,
        )
        progress(f"image {session.image.describe()}")
        for line in session.preflight():
            progress(f"site: {line}")
        run = _drill_parallel if jobs > 1 else _drill_sequential
        results = run(session, chosen, options, Output(as_json, store, journal), jobs)
    emit_results(results, as_json, planned=len(chosen), single=len(chosen) == 1)
    write_journals(journal, results, planned=len(chosen))
    gate = record(store, [run_of_drill(r) for r in results], fail_if_slower)
    write_report(report, store, results)
    return max([gate, *(exit_code(r) for r in results)])


def _observer(status: Status, name: str) -> Callable[[Event, float], None]:
    def show(event: Event, offset: float) -> None:
        status.update(f"drill {name}: +{offset:.2f}s {event.kind.value}")
        if not stderr.is_terminal:  # logs get a line per event; a terminal gets the spinner
            progress(f"{name} +{offset:.3f}s {event.kind.value}: {event.detail}")

    return show


def _run(
    session: Session, scenario: Scenario, options: DrillOptions, label: str, targets: TargetSource | None = None
) -> Result:
    with stderr.status(f"{label}: starting a target") as status:
        observer = _observer(status, scenario.name)
        return Drill(session, scenario, options=options, listeners=[observing(observer)], targets=targets).run()


def _finished(result: Result, done: int, planned: int) -> None:
    mark = "ok" if result.passed else "FAILED"
    progress(f"[{done}/{planned}] {result.scenario}: {mark} ({result.verdict.value}, {result.duration:.1f} s)")


@dataclass(frozen=True)
class Output:
    as_json: bool
    store: ResultStore
    journal: Path | None


def write_journals(path: Path | None, results: list[Result], planned: int) -> None:
    if path is None or not results:
        return
    from harness import journal  # only when asked: it is the one user of platform details

    for written in journal.write_drills(results, path, several=planned > 1):
        progress(f"journal: {written}")


def _interrupted(results: list[Result], planned: int, out: Output) -> None:
    """What finished is still worth its table, its history and its journal, with the interruption said plainly."""
    emit_results(results, out.as_json, planned=planned, single=planned == 1)
    record(out.store, [run_of_drill(r) for r in results], None)
    write_journals(out.journal, results, planned)


def _drill_sequential(
    session: Session, scenarios: list[Scenario], options: DrillOptions, out: Output, jobs: int
) -> list[Result]:
    results: list[Result] = []
    # With several, the next drill's target starts while this one runs, and each is removed in the background.
    warm = WarmTargets(session, scenarios[1:], session.image.tag, ahead=1) if len(scenarios) > 1 else None
    try:
        for number, scenario in enumerate(scenarios, 1):
            several = len(scenarios) > 1
            label = f"[{number}/{len(scenarios)}] drill {scenario.name}" if several else f"drill {scenario.name}"
            try:
                result = _run(session, scenario, options, label, warm)
            except DrillInterrupted as exc:
                if warm is not None:
                    warm.stop()
                    session.remove_targets()
                _interrupted([*results, exc.result], len(scenarios), out)
                raise
            results.append(result)
            if several:
                _finished(result, number, len(scenarios))
    finally:
        if warm is not None:
            warm.close()
    return results


def _drill_parallel(
    session: Session, scenarios: list[Scenario], options: DrillOptions, out: Output, jobs: int
) -> list[Result]:
    """Up to JOBS drills at once; the table keeps catalogue order whatever finishes first.

    On Ctrl-C no further drill starts and nothing more is injected: queued
    drills are cancelled, running ones are told to stop at their next step,
    and their targets are removed so that a step blocked on the engine or a
    load burst ends at once. They end as interrupted, not as failures.
    """
    cancel = threading.Event()
    done: dict[str, Result] = {}
    running: dict[str, Drill] = {}
    lock = threading.Lock()

    def drill(scenario: Scenario) -> Result:
        def log(event: Event, offset: float) -> None:
            if not cancel.is_set():
                progress(f"{scenario.name} +{offset:.3f}s {event.kind.value}: {event.detail}")

        one = Drill(session, scenario, options=options, listeners=[observing(log)], cancel=cancel, targets=warm)
        with lock:
            if cancel.is_set():
                raise _NotStarted(scenario.name)
            running[scenario.name] = one
        try:
            return one.run()
        finally:
            with lock:
                running.pop(scenario.name, None)

    order = _longest_first(scenarios, out.store)
    # The targets of the drills to come start while these run; given-back ones are removed in the background.
    warm = WarmTargets(session, order[jobs:], session.image.tag, ahead=jobs)
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="harness-drill", initializer=quiet)
    futures = {pool.submit(drill, scenario): scenario for scenario in order}
    try:
        pending = set(futures)
        while pending:
            # A timed wait, not as_completed: a Ctrl-C the kernel hands to another thread reaches Python only
            # when this (main) thread runs again, and a blocked wait would hold it until a drill ends.
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                done[result.scenario] = result
                _finished(result, len(done), len(scenarios))
    except KeyboardInterrupt:
        with lock:
            cancel.set()
            stopping = list(running.values())
        pool.shutdown(wait=False, cancel_futures=True)
        warm.stop()
        for one in stopping:
            one.interrupt()
        session.remove_targets()
        wait(futures, timeout=INTERRUPT_GRACE)
        for future, scenario in futures.items():
            if scenario.name in done or not future.done() or future.cancelled():
                continue
            exc = future.exception()
            if isinstance(exc, DrillInterrupted):
                done[scenario.name] = exc.result
            elif exc is None:
                done[scenario.name] = future.result()
        _interrupted([done[s.name] for s in scenarios if s.name in done], len(scenarios), out)
        warm.close()
        raise
    pool.shutdown(wait=True)
    warm.close()
    return [done[s.name] for s in scenarios]


def _longest_first(scenarios: list[Scenario], store: ResultStore) -> list[Scenario]:
    """Start the drills that took longest last time first, so that no long one starts last and runs alone."""
    took = {run.scenario: run.duration or 0.0 for run in store.runs(kind="drill")}  # oldest first: the last wins
    return sorted(scenarios, key=lambda s: -took.get(s.name, 0.0))


def emit_results(results: list[Result], as_json: bool, planned: int, single: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(results_to_dict(results, planned=planned), indent=2))
    elif single and len(results) == 1:
        render_result(results[0], stdout())
    else:
        render_results(results, stdout(), planned=planned)
