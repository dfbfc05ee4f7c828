"""Renderers for drill results: a terminal report and a JSON document."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.doctor import Diagnosis
from harness.outcome import Result, Verdict
from harness.schemas import schema_id


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def diagnosis_to_dict(diagnosis: Diagnosis | None) -> dict[str, Any] | None:
    if diagnosis is None:
        return None
    return {
        "cause": diagnosis.cause,
        "summary": diagnosis.summary,
        "evidence": list(diagnosis.evidence),
        "ruled_out": list(diagnosis.ruled_out),
        "measured": list(diagnosis.measured),
        "also": list(diagnosis.also),
        "broken_step": diagnosis.broken_step or None,
        "traces": [
            {
                "request": {"path": t.request.path, "host": t.request.host, "port": t.request.port},
                "steps": [{"step": s.what, "ok": s.ok, "detail": s.detail, "where": s.where or None} for s in t.steps],
            }
            for t in diagnosis.traces
        ],
        "changes": [c.line() for c in diagnosis.changes.items] if diagnosis.changes.compared else None,
    }


def result_to_dict(result: Result) -> dict[str, Any]:
    timeline = result.timeline
    return {
        "scenario": result.scenario,
        "summary": result.summary,
        "verdict": result.verdict.value,
        "passed": result.passed,
        "reason": result.reason,
        "unsteady_probes": list(result.unsteady),  # one line per probe of a drill that never got steady
        "problems": result.problems(),
        "declared": {"symptom": result.declared_symptom.value, "cause": result.declared_cause},
        "observed": {
            "symptom": result.symptom_seen.value if result.symptom_seen else None,
            "detected_by": result.detected_by.value if result.detected_by else None,
            "baseline_diagnosis": diagnosis_to_dict(result.baseline),
            "false_alarm": result.false_alarm,
            "load": [
                {
                    "requests": load.requests,
                    "planned": load.planned or load.requests,
                    "stopped_early": load.stopped_early,
                    "concurrency": load.concurrency,
                    "failed": load.failed,
                    "failed_fraction": round(load.failed_fraction, 4),
                    "duration_s": _round(load.duration),
                }
                for load in result.load_reports
            ],
            "diagnosis": diagnosis_to_dict(result.diagnosis),
            "diagnosis_correct": result.diagnosis_correct,
            "diagnosis_after_repair": diagnosis_to_dict(result.diagnosis_after),
            "rounds": [{"cause": d.cause, "summary": d.summary} for d in result.rounds],
        },
        "times": {
            "time_to_detect_s": _round(result.time_to_detect),
            "time_to_recover_s": _round(result.time_to_recover),
            "duration_s": _round(result.duration),
        },
        "repair_steps": [
            {"argv": list(step.argv), "exit_code": step.exit_code, "duration_s": _round(step.duration)}
            for step in result.repair_steps
        ],
        "timeline": {
            "started_at": timeline.started_at.isoformat(),
            "events": [
                {"event": e.kind.value, "t_s": _round(timeline.offset(e.t)), "detail": e.detail}
                for e in timeline.events
            ],
            "samples": [
                {
                    "t_s": _round(timeline.offset(s.t)),
                    "outcome": s.outcome.value,
                    "status": s.status,
                    "latency_ms": round(s.latency * 1000, 2),
                }
                for s in timeline.samples
            ],
        },
        "target": {"image": result.image, "container": result.target, "site": result.site or None},
        "run_id": result.run_id,
    }


_VERDICT_STYLE = {Verdict.RECOVERED: "bold green", Verdict.INTERRUPTED: "bold yellow"}


# Past this many runs of one outcome the probe's history is summed up rather than listed.
PROBE_RUNS_SHOWN = 8


def _verdict_style(result: Result) -> str:
    if result.verdict is Verdict.WITHSTOOD:  # a result on a site, a broken scenario on harness's own server
        return "bold green" if result.passed else "bold red"
    return _VERDICT_STYLE.get(result.verdict, "bold red")


def render_result(result: Result, console: Console) -> None:
    timeline = result.timeline
    events = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    events.add_column("t", justify="right", style="cyan", no_wrap=True)
    events.add_column("event", no_wrap=True)
    events.add_column("detail", overflow="fold")
    for event in timeline.events:
        events.add_row(f"+{timeline.offset(event.t):.3f}s", event.kind.value, Text(event.detail))

    probe = Text("probe: ")
    runs = timeline.outcome_runs()
    if len(runs) > PROBE_RUNS_SHOWN:
        # A flapping probe: the run-by-run history is a wall; the totals and the span say it (the verdict's
        # reason names each probe).
        totals = Counter(s.outcome.value for s in timeline.samples)
        probe.append(", ".join(f"{name} ×{count}" for name, count in totals.most_common()))
        span = f"{timeline.offset(runs[0].start):.2f}–{timeline.offset(runs[-1].end):.2f}s"
        probe.append(f" ({span}, flapping: {len(runs) - 1} changes)", style="dim")
    for i, run in enumerate(runs if len(runs) <= PROBE_RUNS_SHOWN else []):
        if i:
            probe.append(" → ")
        style = "green" if run.outcome.value == "ok" else "red"
        probe.append(f"{run.outcome.value} ×{run.count}", style=style)
        probe.append(f" ({timeline.offset(run.start):.2f}–{timeline.offset(run.end):.2f}s)", style="dim")

    parts: list[Any] = [events, Text(""), probe]
    if result.diagnosis is not None and result.diagnosed:  # a withstood drill had nothing to diagnose
        mark = "✓" if result.diagnosis_correct else "✗"
        parts += [
            Text(""),
            Text.assemble(
                ("diagnosis: ", "bold"),
                (f"{result.diagnosis.cause} {mark}", "green" if result.diagnosis_correct else "red"),
                f"  (the scenario's cause: {result.declared_cause})",
            ),
            Text(result.diagnosis.summary, style="italic"),
            *(Text(f"  · {line}", style="dim") for line in result.diagnosis.evidence),
        ]
        if len(result.rounds) > 1:
            parts.append(Text.assemble(("rounds: ", "bold"), " → ".join(d.cause for d in result.rounds)))
    seen = result.symptom_seen.value if result.symptom_seen else "none"
    how = f", detected by the {result.detected_by.value}" if result.detected_by else ""
    parts += [
        Text(""),
        Text(f"symptom seen: {seen} (declared: {result.declared_symptom.value}){how}"),
        Text.assemble(
            ("time to detect:  ", "bold"),
            _seconds(result.time_to_detect),
            "\n",
            ("time to recover: ", "bold"),
            _seconds(result.time_to_recover),
            "\n",
            ("drill total:     ", "bold"),
            _seconds(result.duration),
        ),
    ]
    verdict = Text.assemble(
        ("verdict: ", "bold"),
        (result.verdict.value.upper(), _verdict_style(result)),
        f" — {result.reason}",
    )
    parts += [Text(""), verdict, *(Text(f"  ✗ {p}", style="red") for p in result.problems() if "verdict" not in p)]
    title = f"drill {result.scenario}: {result.summary}"
    console.print(Panel(Group(*parts), title=title, title_align="left", subtitle=f"{result.target} · {result.image}"))


@dataclass(frozen=True)
class Accuracy:
    """Every count of a set of drills, from one place, so that no two of them can disagree.

    Verdicts partition the finished drills; passed and failed partition them
    again (a recovered drill with the wrong diagnosis is recovered and failed).
    Only drills whose fault was detected and diagnosed count towards the
    doctor's accuracy; drills cut short by an interrupt are counted apart,
    never as right or wrong.
    """

    planned: int  # drills asked for
    finished: int  # drills that ran to a verdict (not interrupted)
    interrupted: int
    verdicts: tuple[tuple[Verdict, int], ...]  # each verdict the finished drills reached, with its count
    failed: tuple[tuple[str, Verdict], ...]  # the finished drills that did not pass: scenario, verdict
    diagnosed: int  # drills whose fault was detected and diagnosed
    correct: int
    healthy_targets: int  # targets the doctor examined before any fault
    false_alarms: int

    @classmethod
    def of(cls, results: list[Result], planned: int | None = None) -> Accuracy:
        finished = [r for r in results if r.verdict is not Verdict.INTERRUPTED]
        counts = {v: sum(r.verdict is v for r in finished) for v in Verdict}
        return cls(
            planned=len(results) if planned is None else planned,
            finished=len(finished),
            interrupted=len(results) - len(finished),
            verdicts=tuple((v, n) for v, n in counts.items() if n),
            failed=tuple((r.scenario, r.verdict) for r in finished if not r.passed),
            diagnosed=sum(r.diagnosed for r in finished),
            correct=sum(r.diagnosed and r.diagnosis_correct for r in finished),
            healthy_targets=sum(r.baseline is not None for r in results),
            false_alarms=sum(r.false_alarm for r in results),
        )

    def count(self, verdict: Verdict) -> int:
        return dict(self.verdicts).get(verdict, 0)

    @property
    def recovered(self) -> int:
        return self.count(Verdict.RECOVERED)

    @property
    def withstood(self) -> int:
        return self.count(Verdict.WITHSTOOD)

    @property
    def passed(self) -> int:
        return self.finished - len(self.failed)

    @property
    def was_interrupted(self) -> bool:
        return self.interrupted > 0 or self.finished < self.planned

    def line(self) -> str:
        outcomes = ", ".join(f"{n} {verdict.value}" for verdict, n in self.verdicts) or "none finished"
        said = f"{self.passed}/{self.finished} passed ({outcomes})"
        if self.failed:
            said += f"; {len(self.failed)} failed: " + ", ".join(f"{s} ({v.value})" for s, v in self.failed)
        said += (
            f"; {self.correct}/{self.diagnosed} detected faults diagnosed correctly, "
            f"{self.false_alarms} false alarms on {self.healthy_targets} healthy targets"
        )
        if self.was_interrupted:
            said += (
                f"; interrupted after {self.finished} of {self.planned} drills"
                f" ({self.interrupted} interrupted while running, {self.planned - self.finished - self.interrupted}"
                " never started)"
            )
        return said


def results_to_dict(results: list[Result], planned: int | None = None) -> dict[str, Any]:
    """One shape for `drill A`, `drill A B` and `drill --all` (schema drill/2, harness/schemas/drill.json)."""
    accuracy = Accuracy.of(results, planned)
    return {
        "schema": schema_id("drill"),
        "passed": bool(results) and not accuracy.was_interrupted and not accuracy.failed,
        "interrupted": accuracy.was_interrupted,
        "accuracy": {
            "planned": accuracy.planned,
            "finished": accuracy.finished,
            "interrupted": accuracy.interrupted,
            "passed": accuracy.passed,
            "failed": [{"scenario": s, "verdict": v.value} for s, v in accuracy.failed],
            "verdicts": {v.value: n for v, n in accuracy.verdicts},
            "diagnosed": accuracy.diagnosed,
            "diagnosed_correctly": accuracy.correct,
            "healthy_targets": accuracy.healthy_targets,
            "false_alarms": accuracy.false_alarms,
            "recovered": accuracy.recovered,
            "withstood": accuracy.withstood,
            "summary": accuracy.line(),
        },
        "results": [result_to_dict(r) for r in results],
    }


def _broken_step(result: Result) -> str:
    """The trace's first broken step, short; for a latent fault (no failing request), the doctor's finding."""
    diagnosis = result.diagnosis
    if diagnosis is None:
        return "—"
    step = next((t.broken for t in diagnosis.traces if t.broken is not None), None)
    if step is None:
        return "no request failed" if not diagnosis.traces else "every step holds inside"
    return f"{step.what}: {step.detail}"[:90]


def render_results(results: list[Result], console: Console, planned: int | None = None) -> None:
    table = Table(title="catalogue drill", title_justify="left")
    table.add_column("scenario", no_wrap=True)
    table.add_column("symptom seen", no_wrap=True)
    table.add_column("diagnosis", no_wrap=True)
    table.add_column("correct?", justify="center")
    table.add_column("detect", justify="right", no_wrap=True)
    table.add_column("recover", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("where the request breaks", overflow="fold")
    for r in results:
        seen = r.symptom_seen.value if r.symptom_seen else "—"
        if r.symptom_seen is not None and not r.symptom_matches:
            seen = f"[red]{seen} (declared {r.declared_symptom.value})[/red]"
        table.add_row(
            r.scenario,
            seen,
            Text(r.diagnosis.cause if r.diagnosis else "—"),
            "—" if not r.diagnosed else "[green]✓[/green]" if r.diagnosis_correct else "[red]✗[/red]",
            _seconds(r.time_to_detect),
            _seconds(r.time_to_recover),
            f"[{_verdict_style(r)}]{r.verdict.value}[/]",
            Text(_broken_step(r), style="dim"),
        )
    console.print(table)
    console.print(Accuracy.of(results, planned).line(), style="bold", highlight=False, markup=False)
    for r in results:
        for problem in r.problems():
            console.print(Text.assemble((f"✗ {r.scenario}:", "red"), " ", problem), highlight=False)
