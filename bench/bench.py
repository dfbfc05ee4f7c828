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
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.drill import Drill, DrillOptions
from harness.outcome import Result
from harness.session import Session
from harness.shell import SHELL_MARK
from harness.target import Target
from harness.timeline import EventKind

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HARNESS = [str(ROOT / ".venv" / "bin" / "harness")]
CTK_VENV = HERE / ".venv-ctk"
SECTIONS = ("startup", "peers", "detection", "recovery", "verify", "catalogue", "many")


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
    rows.append(Row("peers", "harness / floor", ours / floor, None, None, "×", "≤ 1.15", ours / floor <= 1.15))
    rows.append(Row("peers", "harness / chaostoolkit", ours / ctk, None, None, "×", "≤ 0.80", ours / ctk <= 0.80))
    rows.append(
        Row(
            "peers",
            "floor / chaostoolkit",
            floor / ctk,
            None,
            None,
            "×",
            note="the bare script in Python: harness cannot beat Chaos Toolkit by more than the floor does",
        )
    )
    return rows


# -- 2 and 3. detection latency, where recovery time goes -----------------------------


def drills(session: Session, scenario: str, reps: int, interval: float) -> list[Result]:
    chosen = session.catalogue.get(scenario)
    return [Drill(session, chosen, options=DrillOptions(interval=interval)).run() for _ in range(reps)]


def command_round_trip(session: Session, plain: bool) -> float:
    """Median ms of `true` in a target: through its long-lived shell, or as a plain `docker exec` (PLAIN)."""
    with session.new_target() as target:
        if plain:
            target.use_plain_execs()
        target.exec(["true"])  # the first opens the shell
        trips = []
        for _ in range(20):
            started = time.monotonic()
            target.exec(["true"])
            trips.append(time.monotonic() - started)
    return statistics.median(trips) * 1000


def detection(session: Session, reps: int) -> list[Row]:
    trip = command_round_trip(session, plain=False)  # how the injecting command reaches the target
    rows = [Row("detection", "one command through the target's shell (true)", trip, None, None, "ms")]
    for interval_ms in (20, 50, 100):
        results = drills(session, "nginx-stopped", reps, interval_ms / 1000)
        ttd = [r.time_to_detect * 1000 for r in results if r.time_to_detect is not None]
        median = statistics.median(ttd)
        goal = interval_ms + 30
        note = f"p95 {p95(ttd):.0f} ms; {median - trip:.0f} ms after the injecting command's round trip"
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


def _engine_trips(result: Result, start: float, end: float) -> tuple[int, int]:
    """(docker exec or upload round trips, commands through the persistent shell) sent in [start, end)."""
    sent = [what for t, what in result.round_trips if start <= t < end]
    shell = sum(what.endswith(SHELL_MARK) for what in sent)
    return len(sent) - shell, shell


def recovery(session: Session, reps: int) -> list[Row]:
    plain = command_round_trip(session, plain=True)
    shell = command_round_trip(session, plain=False)
    rows = [
        Row("recovery", "one command, plain docker exec", plain, None, None, "ms"),
        Row(
            "recovery",
            "one command, through the target's shell",
            shell,
            None,
            None,
            "ms",
            note="harness sends commands this way; plain execs are the fallback",
        ),
    ]
    results = drills(session, "missing-symlink", reps, session.settings.probe_interval)
    for phase in ("steady", "inject", "detect", "diagnose", "repair", "verify", "teardown"):
        spans = [r.timeline.phase(phase) for r in results]
        seconds = [p.duration for p in spans if p is not None]
        trips = [_engine_trips(r, p.start, p.end) for r, p in zip(results, spans, strict=True) if p is not None]
        note = f"docker round trips {min(t[0] for t in trips)}–{max(t[0] for t in trips)}, " + (
            f"shell commands {min(t[1] for t in trips)}–{max(t[1] for t in trips)}"
        )
        rows.append(Row("recovery", f"phase {phase}", *spread(seconds), "s", note=note))
    whole = [_engine_trips(r, 0.0, float("inf")) for r in results]
    rows.append(
        Row(
            "recovery",
            "docker exec round trips per drill",
            *spread([float(t[0]) for t in whole]),
            "",
            note=f"plus {statistics.median(t[1] for t in whole):.0f} commands through the shell",
        )
    )
    own = []
    for r in results:
        injected, recovered = r.timeline.phase("inject"), r.timeline.at(EventKind.RECOVERED)
        assert injected is not None and recovered is not None, "the drill did not get through its phases"
        own.append(recovered.t - injected.end)
    median = statistics.median(own)
    rows.append(
        Row(
            "recovery",
            "injection's end to recovered (harness's own part)",
            *spread(own),
            "s",
            "median < 0.35 s",
            median < 0.35,
            "detect, diagnose, repair, and the first good sample",
        )
    )
    ttr = [r.time_to_recover for r in results if r.time_to_recover is not None]
    rows.append(Row("recovery", "missing-symlink time to recover", *spread(ttr), "s", note="includes the injection"))
    return rows


# -- start-up ------------------------------------------------------------------------


def startup(reps: int) -> list[Row]:
    """Commands that never reach the engine, and the pytest plugin in a suite that does not use it."""
    # As a regular install has them: pip compiles bytecode at install time, an editable install does not.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "harness"), str(ROOT / "scenarios")])
    rows = []
    for args in (["--help"], ["list"]):
        walls = [timed([*HARNESS, *args]) for _ in range(max(reps, 5))]
        median = statistics.median(walls)
        rows.append(Row("startup", f"harness {' '.join(args)}", *spread(walls), "s", "< 0.2 s", median < 0.2))
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "test_plain.py").write_text("def test_plain():\n    assert True\n")
        base = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", folder]
        with_plugin, without = [], []
        for _ in range(max(reps, 7)):  # alternating, so drift hits both alike
            with_plugin.append(timed(base))
            without.append(timed([*base, "-p", "no:harness"]))
    added = (statistics.median(with_plugin) - statistics.median(without)) * 1000
    rows.append(Row("startup", "pytest --collect-only, plugin not used", *spread(with_plugin), "s"))
    rows.append(Row("startup", "... without the plugin (-p no:harness)", *spread(without), "s"))
    rows.append(Row("startup", "what the plugin adds", added, None, None, "ms", "< 50 ms", added < 50))
    return rows


# -- verify-fix ---------------------------------------------------------------------


def verify(reps: int) -> list[Row]:
    fixes = ROOT / "tests" / "fixes"
    cases = [
        ("a passing fix", ["missing-symlink", str(fixes / "relink.sh"), "--no-scope"], 12.0, 0),
        ("a failing fix, its verdict", ["missing-symlink", str(fixes / "no-restart.sh"), "--no-scope"], 8.0, 1),
        ("a passing fix with --scope", ["missing-symlink", str(fixes / "relink.sh"), "--scope"], 40.0, 0),
    ]
    rows = []
    for label, args, goal, code in cases:
        walls = []
        for _ in range(1 if "--scope" in args else max(1, reps // 2)):
            started = time.monotonic()
            proc = subprocess.run([*HARNESS, "verify-fix", *args], capture_output=True, text=True, env=bench_env())
            walls.append(time.monotonic() - started)
            if proc.returncode != code:
                raise SystemExit(f"bench: verify-fix {' '.join(args)} exited {proc.returncode}: {proc.stderr[-800:]}")
        median = statistics.median(walls)
        rows.append(Row("verify", f"verify-fix, {label}", *spread(walls), "s", f"< {goal:g} s", median < goal))
    return rows


# -- 4. the catalogue ---------------------------------------------------------------


def _measured(argv: list[str]) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of one command, from the kernel's accounting of that child alone."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=bench_env())
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} exited {proc.returncode}")
    return took, usage.ru_maxrss / 1024


def catalogue(session: Session) -> list[Row]:
    sequential, peak = _measured([*HARNESS, "drill", "--all", "--json"])
    parallel, peak_parallel = _measured([*HARNESS, "drill", "--all", "--jobs", "2", "--json"])
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
        Row("catalogue", "drill --all --jobs 2", parallel, None, None, "s", "< 25 s", parallel < 25),
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
        Row("catalogue", "drill --all, peak RSS", peak, None, None, "MB", "< 150 MB", peak < 150),
        Row(
            "catalogue",
            "drill --all --jobs 2, peak RSS",
            peak_parallel,
            None,
            None,
            "MB",
            "< 150 MB",
            peak_parallel < 150,
        ),
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
            "startup": lambda: startup(args.reps),
            "peers": lambda: peers(image, args.reps),
            "detection": lambda: detection(session, args.reps),
            "recovery": lambda: recovery(session, args.reps),
            "verify": lambda: verify(args.reps),
            "catalogue": lambda: catalogue(session),
            "many": lambda: many(session),
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
