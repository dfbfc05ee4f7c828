"""harness's benchmark: figures against the floor, against Chaos Toolkit, and against its own goals.

    .venv/bin/python bench/bench.py [--reps N] [--json] [--skip SECTION ...]

Comparisons run side by side in one run, alternating, over N repetitions, and
report median, minimum and maximum. Chaos Toolkit is installed into
bench/.venv-ctk on first use (from PyPI), never into harness's own venv.
Speed goals live here, never in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.drill import Drill, DrillOptions, Result
from harness.session import Session
from harness.target import Target
from harness.timeline import EventKind

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HARNESS = [str(ROOT / ".venv" / "bin" / "harness")]
CTK_VENV = HERE / ".venv-ctk"
SECTIONS = ("peers", "detection", "recovery", "catalogue", "many", "memory")


@dataclass
class Row:
    section: str
    measure: str
    median: float | None
    low: float | None
    high: float | None
    unit: str
    goal: str = ""
    met: bool | None = None
    note: str = ""


def spread(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    took = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} exited {proc.returncode}: {proc.stderr[-800:]}")
    return took


def bench_env() -> dict[str, str]:
    """Results of benchmark runs go to a scratch store, not the project's history."""
    return {**os.environ, "HARNESS_RESULTS": str(Path(os.environ.get("TMPDIR", "/tmp")) / "harness-bench.sqlite")}


# -- 1. floor and peer ---------------------------------------------------------------


def chaos_binary() -> Path:
    chaos = CTK_VENV / "bin" / "chaos"
    if not chaos.exists():
        print("bench: installing Chaos Toolkit into bench/.venv-ctk (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(CTK_VENV)], check=True)
        subprocess.run([str(CTK_VENV / "bin" / "pip"), "install", "-q", "chaostoolkit"], check=True)
    return chaos


def peers(image: str, reps: int) -> list[Row]:
    chaos = chaos_binary()
    runners: dict[str, Callable[[], float]] = {
        "harness": lambda: timed([*HARNESS, "drill", "missing-symlink", "--json"], bench_env()),
        "floor": lambda: timed([sys.executable, str(HERE / "floor.py"), image]),
        "chaostoolkit": lambda: timed([str(HERE / "chaostoolkit" / "run.sh"), str(chaos), image]),
    }
    walls: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(reps):
        for name, run in runners.items():  # alternating, so drift in the machine hits all three alike
            walls[name].append(run())
    floor, ours, ctk = (statistics.median(walls[n]) for n in ("floor", "harness", "chaostoolkit"))
    rows = [Row("peers", f"missing-symlink drill, {name}", *spread(walls[name]), "s") for name in runners]
    rows.append(Row("peers", "harness / floor", ours / floor, None, None, "×", "≤ 1.25", ours / floor <= 1.25))
    rows.append(Row("peers", "harness / chaostoolkit", ours / ctk, None, None, "×", "< 1", ours < ctk))
    return rows


# -- 2 and 3. detection latency, where recovery time goes -----------------------------


def drills(session: Session, scenario: str, reps: int, interval: float) -> list[Result]:
    chosen = session.catalogue.get(scenario)
    return [Drill(session, chosen, options=DrillOptions(interval=interval)).run() for _ in range(reps)]


def exec_round_trip(session: Session) -> float:
    """Median time of a `docker exec true`: every injection waits this long before its fault is in place."""
    with session.new_target() as target:
        trips = []
        for _ in range(10):
            started = time.monotonic()
            target.exec(["true"])
            trips.append(time.monotonic() - started)
    return statistics.median(trips) * 1000


def detection(session: Session, reps: int) -> list[Row]:
    trip = exec_round_trip(session)
    rows = [Row("detection", "docker exec round trip (true)", trip, None, None, "ms")]
    for interval_ms in (20, 50, 100):
        results = drills(session, "nginx-stopped", reps, interval_ms / 1000)
        ttd = [r.time_to_detect * 1000 for r in results if r.time_to_detect is not None]
        median = statistics.median(ttd)
        goal = interval_ms + 30
        note = f"p95 {p95(ttd):.0f} ms; {median - trip:.0f} ms after the injecting exec's round trip"
        rows.append(
            Row(
                "detection",
                f"time to detect at {interval_ms} ms",
                median,
                min(ttd),
                max(ttd),
                "ms",
                f"median ≤ {goal} ms",
                median <= goal,
                note,
            )
        )
    return rows


def _phase_of(result: Result) -> dict[str, tuple[float, float]]:
    tl = result.timeline
    diagnosed, started = tl.at(EventKind.DIAGNOSED), tl.at(EventKind.REPAIR_STARTED)
    repaired, down = tl.at(EventKind.REPAIRED), tl.at(EventKind.TORN_DOWN)
    assert diagnosed and started and repaired and down, "the drill did not get through its phases"
    detected = tl.at(EventKind.DETECTED)
    injected = tl.at(EventKind.INJECTED)
    assert detected and injected
    return {
        "inject": (injected.t, detected.t),
        "doctor": (detected.t, started.t),
        "remedy": (started.t, repaired.t),
        "verify": (repaired.t, down.t),
    }


def recovery(session: Session, reps: int) -> list[Row]:
    results = drills(session, "missing-symlink", reps, session.settings.probe_interval)
    rows = []
    for phase in ("doctor", "remedy", "verify"):
        spans = [_phase_of(r)[phase] for r in results]
        seconds = [end - start for start, end in spans]
        trips = [
            sum(start <= t < end for t, _ in r.round_trips) for r, (start, end) in zip(results, spans, strict=True)
        ]
        goal, met = ("≤ 2 round trips", max(trips) <= 2) if phase == "doctor" else ("", None)
        rows.append(
            Row("recovery", f"{phase}: time", *spread(seconds), "s", note=f"round trips {min(trips)}–{max(trips)}")
        )
        rows.append(
            Row("recovery", f"{phase}: docker exec round trips", *spread([float(t) for t in trips]), "", goal, met)
        )
    ttr = [r.time_to_recover for r in results if r.time_to_recover is not None]
    injecting = [_phase_of(r)["inject"] for r in results]
    inject_part = statistics.median(end - start for start, end in injecting)
    median = statistics.median(ttr)
    rows.append(
        Row(
            "recovery",
            "missing-symlink time to recover",
            median,
            min(ttr),
            max(ttr),
            "s",
            "median < 1 s",
            median < 1.0,
            f"injection to first failing sample: {inject_part:.2f} s",
        )
    )
    return rows


# -- 4. the catalogue ---------------------------------------------------------------


def catalogue(session: Session) -> list[Row]:
    sequential = timed([*HARNESS, "drill", "--all", "--json"], bench_env())
    parallel = timed([*HARNESS, "drill", "--all", "--jobs", "2", "--json"], bench_env())
    xdist = timed(
        [
            str(ROOT / ".venv" / "bin" / "pytest"),
            "-n",
            "2",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "test_catalogue.py"),
            "-k",
            "detected_diagnosed",
        ],
        bench_env(),
    )
    fresh, reset = [], []
    for _ in range(3):
        started = time.monotonic()
        with session.new_target() as target:
            fresh.append(time.monotonic() - started)
            started = time.monotonic()
            target.restart(timeout=2)
            target.wait_until_serving(30)
            reset.append(time.monotonic() - started)
    return [
        Row("catalogue", "drill --all, one at a time", sequential, None, None, "s"),
        Row("catalogue", "drill --all --jobs 2", parallel, None, None, "s", "< 45 s", parallel < 45),
        Row(
            "catalogue",
            "speed-up with 2 jobs",
            sequential / parallel,
            None,
            None,
            "×",
            "≥ 1.6",
            sequential / parallel >= 1.6,
        ),
        Row("catalogue", "pytest -n 2, one drill per scenario", xdist, None, None, "s", "< 45 s", xdist < 45),
        Row("catalogue", "fresh target, start to serving", *spread(fresh), "s"),
        Row(
            "catalogue",
            "reset target (restart), to serving",
            *spread(reset),
            "s",
            note="fresh is used: faster, and nothing of the last fault survives",
        ),
    ]


# -- 5 and 6. many targets, memory ---------------------------------------------------


def many(session: Session, count: int = 20) -> list[Row]:
    targets = [session.new_target(labels={"harness.bench": "many"}) for _ in range(count)]
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(Target.start, targets))
        all_healthy = time.monotonic() - started
        client = session.client
        with ThreadPoolExecutor(max_workers=count) as pool:
            stats = list(pool.map(lambda t: client.containers.get(t.id).stats(stream=False), targets))
        usage = sum(
            s["memory_stats"].get("usage", 0) - s["memory_stats"].get("stats", {}).get("inactive_file", 0)
            for s in stats
        )
    finally:
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(Target.stop, targets))
    mib = usage / 2**20
    return [
        Row(
            "many",
            f"{count} targets at once, until all serve",
            all_healthy,
            None,
            None,
            "s",
            "< 20 s",
            all_healthy < 20,
        ),
        Row("many", f"{count} targets, memory (docker stats)", mib, None, None, "MiB", "< 1024 MiB", mib < 1024),
    ]


def memory() -> list[Row]:
    """Peak RSS of one `harness drill --all` process, from the kernel's accounting of that child alone."""
    argv = [*HARNESS, "drill", "--all", "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=bench_env())
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} exited {proc.returncode}")
    peak = usage.ru_maxrss / 1024
    return [Row("memory", "harness drill --all, peak RSS", peak, None, None, "MB", "< 150 MB", peak < 150)]


# -- output ---------------------------------------------------------------------------


def render(rows: list[Row]) -> None:
    table = Table(title="harness benchmark", title_justify="left")
    for column in ("section", "measure", "median", "min", "max", "goal", "met", "note"):
        table.add_column(column, overflow="fold", justify="right" if column in ("median", "min", "max") else "left")

    def fmt(value: float | None, unit: str) -> str:
        return "" if value is None else f"{value:.3f} {unit}".strip()

    for row in rows:
        met = "" if row.met is None else ("[green]met[/green]" if row.met else "[red]NOT met[/red]")
        table.add_row(
            row.section,
            row.measure,
            fmt(row.median, row.unit),
            fmt(row.low, row.unit),
            fmt(row.high, row.unit),
            row.goal,
            met,
            row.note,
        )
    Console(width=int(os.environ.get("COLUMNS", 160))).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="repetitions per comparison (default 5)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS, help="sections to leave out")
    args = parser.parse_args()
    os.environ.update(bench_env())
    rows: list[Row] = []
    with Session() as session:
        image = session.image.tag
        steps: dict[str, Callable[[], list[Row]]] = {
            "peers": lambda: peers(image, args.reps),
            "detection": lambda: detection(session, args.reps),
            "recovery": lambda: recovery(session, args.reps),
            "catalogue": lambda: catalogue(session),
            "many": lambda: many(session),
            "memory": memory,
        }
        for name, step in steps.items():
            if name in args.skip:
                continue
            print(f"bench: {name}…", file=sys.stderr)
            rows += step()
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        render(rows)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
