"""`harness drill SCENARIO`: one measured drill on a fresh target."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

import click
from rich.status import Status

from harness.cli import HARNESS_ERROR, PASSED, VERDICT_FAILED, cli, progress, stderr, stdout
from harness.cli.history import FAIL_IF_SLOWER, open_store, record
from harness.drill import Drill, DrillInterrupted, DrillOptions, Result, Verdict
from harness.history import ResultStore
from harness.records import run_of_drill
from harness.report import render_result, render_results, result_to_dict, results_to_dict
from harness.scenario import Scenario
from harness.session import Session
from harness.timeline import Event


def emit_result(result: Result, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result_to_dict(result), indent=2))
    else:
        render_result(result, stdout())


def exit_code(result: Result) -> int:
    if result.passed:
        return PASSED
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
) -> int:
    """Break a fresh target with SCENARIO, then detect, diagnose, repair and verify it.

    Several SCENARIOS, or --all for the whole catalogue, run one after another
    on fresh targets and end with a table and the doctor's diagnosis accuracy.
    """
    if run_all == bool(scenarios):
        raise click.UsageError("name a SCENARIO (or several) or pass --all (see `harness list`)")
    with Session(progress=progress) as session:
        # Bad names fail before any container starts.
        names = session.catalogue.names() if run_all else list(dict.fromkeys(scenarios))
        chosen = [session.catalogue.get(name) for name in names]
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
        if len(chosen) == 1 and not run_all:
            result = _drill_one(session, chosen[0], options, as_json, store)
            emit_result(result, as_json)
            return max(exit_code(result), record(store, [run_of_drill(result)], fail_if_slower))
        if jobs > 1:
            results = _drill_parallel(session, chosen, options, as_json, store, jobs)
        else:
            results = _drill_catalogue(session, chosen, options, as_json, store)
    emit_results(results, as_json)
    gate = record(store, [run_of_drill(r) for r in results], fail_if_slower)
    return max([gate, *(exit_code(r) for r in results)])


def _observer(status: Status, name: str) -> Callable[[Event, float], None]:
    def show(event: Event, offset: float) -> None:
        status.update(f"drill {name}: +{offset:.2f}s {event.kind.value}")
        if not stderr.is_terminal:  # logs get a line per event; a terminal gets the spinner
            progress(f"{name} +{offset:.3f}s {event.kind.value}: {event.detail}")

    return show


def _run(session: Session, scenario: Scenario, options: DrillOptions, label: str) -> Result:
    with stderr.status(f"{label}: starting a target") as status:
        return Drill(session, scenario, options=options, observer=_observer(status, scenario.name)).run()


def _drill_one(
    session: Session, scenario: Scenario, options: DrillOptions, as_json: bool, store: ResultStore
) -> Result:
    try:
        return _run(session, scenario, options, f"drill {scenario.name}")
    except DrillInterrupted as exc:
        emit_result(exc.result, as_json)
        record(store, [run_of_drill(exc.result)], None)
        raise


def _drill_catalogue(
    session: Session, scenarios: list[Scenario], options: DrillOptions, as_json: bool, store: ResultStore
) -> list[Result]:
    results: list[Result] = []
    for number, scenario in enumerate(scenarios, 1):
        try:
            result = _run(session, scenario, options, f"[{number}/{len(scenarios)}] drill {scenario.name}")
        except DrillInterrupted as exc:
            # What finished is still worth its table.
            emit_results([*results, exc.result], as_json)
            record(store, [run_of_drill(r) for r in [*results, exc.result]], None)
            raise
        results.append(result)
        mark = "ok" if result.passed else "FAILED"
        took = f"{result.verdict.value}, {result.duration:.1f} s"
        progress(f"[{number}/{len(scenarios)}] {scenario.name}: {mark} ({took})")
    return results


def _drill_parallel(
    session: Session, scenarios: list[Scenario], options: DrillOptions, as_json: bool, store: ResultStore, jobs: int
) -> list[Result]:
    """Up to JOBS drills at once; the table keeps catalogue order whatever finishes first."""
    done: dict[str, Result] = {}

    def drill(scenario: Scenario) -> Result:
        def log(event: Event, offset: float) -> None:
            progress(f"{scenario.name} +{offset:.3f}s {event.kind.value}: {event.detail}")

        return Drill(session, scenario, options=options, observer=log).run()

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="harness-drill")
    try:
        futures = {pool.submit(drill, scenario): scenario for scenario in scenarios}
        for future in as_completed(futures):
            result = future.result()
            done[result.scenario] = result
            mark = "ok" if result.passed else "FAILED"
            took = f"{result.verdict.value}, {result.duration:.1f} s"
            progress(f"[{len(done)}/{len(scenarios)}] {result.scenario}: {mark} ({took})")
    except KeyboardInterrupt:
        # Workers cannot be interrupted; removing every target of this run makes their drills end at once.
        session.remove_targets()
        pool.shutdown(wait=True, cancel_futures=True)
        finished = [done[s.name] for s in scenarios if s.name in done]
        emit_results(finished, as_json)
        record(store, [run_of_drill(r) for r in finished], None)
        raise
    pool.shutdown(wait=True)
    return [done[s.name] for s in scenarios]


def emit_results(results: list[Result], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(results_to_dict(results), indent=2))
    else:
        render_results(results, stdout())
