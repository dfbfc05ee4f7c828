"""Renderers for a verify-fix report: a terminal panel and a JSON document."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.report import result_to_dict
from harness.schemas import schema_id
from harness.verify import CheckStatus, FixReport, FixVerdict

_STATUS_STYLE = {
    CheckStatus.PASSED: "green",
    CheckStatus.FAILED: "bold red",
    CheckStatus.SKIPPED: "yellow",
    CheckStatus.INFO: "cyan",
    CheckStatus.ERROR: "bold magenta",
}
_MARK = {CheckStatus.PASSED: "✓", CheckStatus.FAILED: "✗", CheckStatus.SKIPPED: "–", CheckStatus.INFO: "i"}


EVIDENCE_SHOWN = 5  # per check in the terminal; --json has all of it


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def report_to_dict(report: FixReport) -> dict[str, Any]:
    return {
        "schema": schema_id("verify-fix"),
        "kind": "verify-fix",
        "scenario": report.scenario,
        "fix": {"path": str(report.fix.path), "kind": report.fix.kind.value, "sha256": report.fix.sha256},
        "verdict": report.verdict.value,
        "passed": report.passed,
        "reason": report.reason,
        "checks": [
            {"check": c.name, "status": c.status.value, "summary": c.summary, "evidence": list(c.evidence)}
            for c in report.checks
        ],
        "runs": [
            {
                "where": run.where,
                "exit_code": run.exit_code,
                "timed_out": run.timed_out,
                "duration_s": _round(run.duration),
                "output_bytes": run.output_bytes,
                "output": run.output,
            }
            for run in report.runs
        ],
        "scope": [{"scenario": e.scenario, "repaired": e.repaired, "detail": e.detail} for e in report.scope],
        "times": {"time_to_restore_s": _round(report.time_to_restore), "duration_s": _round(report.duration)},
        "image": report.image,
        "drill": result_to_dict(report.drill),
    }


def render_report(report: FixReport, console: Console) -> None:
    checks = Table(box=None, pad_edge=False, header_style="bold")
    checks.add_column("check", no_wrap=True)
    checks.add_column("result", no_wrap=True)
    checks.add_column("what was seen", overflow="fold")
    for check in report.checks:
        style = _STATUS_STYLE.get(check.status, "")
        mark = _MARK.get(check.status, "!")
        checks.add_row(check.name, Text(f"{mark} {check.status.value}", style=style), Text(check.summary))
        # Scope's evidence is its list of scenarios: every one tried is shown.
        shown = check.evidence if check.name == "scope" else check.evidence[:EVIDENCE_SHOWN]
        for line in shown:
            checks.add_row("", "", Text(f"· {line}", style="dim"))
    parts: list[Any] = [checks, Text("")]
    first = report.first_run
    if first is not None:
        cut = f" (of {first.output_bytes} bytes, capped)" if first.truncated else ""
        parts += [Text(f"output of the first run{cut}:", style="bold"), Text(_indent(first.output, 20), style="dim")]
    ttr = "—" if report.time_to_restore is None else f"{report.time_to_restore:.3f} s"
    parts += [
        Text(""),
        Text.assemble(("time to restore (fix started → port 80 served): ", "bold"), ttr),
        Text.assemble(("verification total: ", "bold"), f"{report.duration:.1f} s"),
        Text(""),
        Text.assemble(
            ("verdict: ", "bold"),
            (report.verdict.value.upper(), "bold green" if report.verdict is FixVerdict.PASSED else "bold red"),
            f" — {report.reason}",
        ),
    ]
    title = f"verify-fix {report.fix.name} against {report.scenario}"
    console.print(Panel(Group(*parts), title=title, title_align="left", subtitle=report.image))


def _indent(text: str, lines: int) -> str:
    kept = text.rstrip().splitlines()
    if not kept:
        return "  (no output)"
    if len(kept) > lines:
        kept = [*kept[: lines // 2], f"[... {len(kept) - lines} lines ...]", *kept[-lines // 2 :]]
    return "\n".join("  " + line for line in kept)
