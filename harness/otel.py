"""Drills and rehearsals as OpenTelemetry traces, for teams whose tracing backend is where they look first.

Nothing here imports OpenTelemetry until the standard environment asks for
traces (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or
OTEL_TRACES_EXPORTER other than "none") and the `otel` extra is installed
(`pip install 'nginx-harness[otel]'`). A drill is traced after it ends, from
its own measurements: one root span, one child span per phase (start, steady,
inject, detect, diagnose, repair, verify, teardown; their parts nested), the
timeline's events as span events, and the scenario, cause, verdict and times
as attributes. A rehearsal is traced from its postmortem the same way.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import sys
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from harness import __version__
from harness.listeners import DrillListener

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from harness.outcome import Result

log = logging.getLogger(__name__)
_lock = threading.Lock()
_provider: TracerProvider | None = None
_tried = False


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none" or env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(exporter or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def provider() -> TracerProvider | None:
    """The process's tracer provider, built once from the environment; None when traces are not wanted or the
    extra is missing (said once, as a warning)."""
    global _provider, _tried
    with _lock:
        if _tried:
            return _provider
        _tried = True
        if not wanted():
            return None
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            log.warning(
                "OpenTelemetry is asked for in the environment but not installed; "
                "install it with: pip install 'nginx-harness[otel]'"
            )
            return None
        made = TracerProvider(
            resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "harness")})
        )
        for exporter in _exporters():
            made.add_span_processor(BatchSpanProcessor(exporter))
        atexit.register(made.shutdown)  # flushes what is still batched
        _provider = made
        return made


def _exporters() -> list[Any]:
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    found: list[Any] = []
    for name in names:
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            # stderr, as harness's progress: stdout carries only the command's result, which may be JSON.
            found.append(ConsoleSpanExporter(out=sys.stderr))
        elif name == "otlp":
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            transport = "grpc" if protocol == "grpc" else "http"
            try:
                module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}.trace_exporter")
            except ImportError:
                log.warning(
                    "OTLP over %s needs opentelemetry-exporter-otlp-proto-%s; traces not sent", protocol, transport
                )
                continue
            # A collector that is down should cost a drill a moment and one line, not the SDK's default 10 s
            # of retries each logged: a shorter timeout unless the environment sets one, and only the last word.
            timeout = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or os.environ.get(
                "OTEL_EXPORTER_OTLP_TIMEOUT"
            )
            logging.getLogger(module.__name__).setLevel(logging.ERROR)
            found.append(module.OTLPSpanExporter() if timeout else module.OTLPSpanExporter(timeout=2.0))
        else:
            log.warning("OTEL_TRACES_EXPORTER=%s is not one harness knows (otlp, console); ignored", name)
    return found


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def _attributes(values: Mapping[str, object]) -> dict[str, Any]:
    """OpenTelemetry takes str, bool, int and float; a missing figure is left out rather than sent as null."""
    return {f"harness.{k}": v for k, v in values.items() if v is not None and isinstance(v, str | bool | int | float)}


class Tracing(DrillListener):
    """The drill listener that traces each drill once it is over (nothing unless the environment asks)."""

    def on_result(self, result: Result) -> None:
        trace_drill(result)


def trace_drill(result: Result, tracer_provider: TracerProvider | None = None) -> None:
    """Send RESULT as a trace (to TRACER_PROVIDER, or the environment's); a failure to trace never fails a drill."""
    chosen = tracer_provider or provider()
    if chosen is None:
        return
    try:
        _drill_spans(result, chosen.get_tracer("harness", __version__))
    except Exception:  # a tracing backend's trouble is not the drill's
        log.warning("could not trace drill %s", result.scenario, exc_info=True)


def _drill_spans(result: Result, tracer: Tracer) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    timeline = result.timeline
    diagnosis = result.diagnosis
    figures = {
        "scenario": result.scenario,
        "summary": result.summary,
        "verdict": result.verdict.value,
        "passed": result.passed,
        "reason": result.reason,
        "declared_cause": result.declared_cause,
        "declared_symptom": result.declared_symptom.value,
        "cause": diagnosis.cause if diagnosis is not None else None,
        "cause_correct": result.diagnosis_correct,
        "symptom": result.symptom_seen.value if result.symptom_seen else None,
        "detected_by": result.detected_by.value if result.detected_by else None,
        "time_to_detect_s": result.time_to_detect,
        "time_to_recover_s": result.time_to_recover,
        "round_trips": len(result.round_trips),
        "image": result.image,
        "target": result.target,
        "site": result.site or None,
        "run_id": result.run_id,
    }
    end = timeline.phases[-1].end if timeline.phases else timeline.t0 + result.duration
    root = tracer.start_span(
        f"drill {result.scenario}", start_time=_ns(timeline.started_at), attributes=_attributes(figures)
    )
    spans: dict[str, Span] = {}
    context = trace.set_span_in_context(root)
    for phase in timeline.phases:
        parent, _, _ = phase.name.rpartition("/")
        under = trace.set_span_in_context(spans[parent]) if parent in spans else context
        span = tracer.start_span(phase.name, context=under, start_time=_ns(timeline.wall(phase.start)))
        if not phase.ok:
            span.set_status(Status(StatusCode.ERROR, "the drill stopped in this phase"))
        spans[phase.name] = span
    for event in timeline.events:
        # On the innermost phase that was under way, so a backend shows it where it happened.
        holder = root
        for phase in timeline.phases:
            if phase.start <= event.t <= phase.end and phase.name in spans:
                holder = spans[phase.name]
        holder.add_event(event.kind.value, {"detail": event.detail}, timestamp=_ns(timeline.wall(event.t)))
    for phase in reversed(timeline.phases):
        spans[phase.name].end(end_time=_ns(timeline.wall(phase.end)))
    if not result.passed:
        root.set_status(Status(StatusCode.ERROR, "; ".join(result.problems()) or result.reason))
    root.end(end_time=_ns(timeline.wall(end)))


def trace_rehearsal(report: Mapping[str, Any], tracer_provider: TracerProvider | None = None) -> None:
    """Send a game day's postmortem as a trace: the outage as a span, notes and hints as its events."""
    chosen = tracer_provider or provider()
    if chosen is None:
        return
    try:
        _rehearsal_spans(report, chosen.get_tracer("harness", __version__))
    except Exception:
        log.warning("could not trace rehearsal %s", report.get("id"), exc_info=True)


def _rehearsal_spans(report: Mapping[str, Any], tracer: Tracer) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    summary, figures = report["summary"], report["figures"]
    if summary["start"] is None:
        return  # the fault never went in: there is no outage to trace
    start = datetime.fromisoformat(summary["start"])
    end = datetime.fromisoformat(summary["end"]) if summary["end"] else start
    values = {
        "rehearsal": report["id"],
        "scenario": report["scenario"],
        "cause": summary["root_cause"]["cause"],
        "status": report["status"],
        "passed": report["passed"],
        "hidden": report["hidden"],
        "symptom": summary["symptom"],
        **figures,
    }
    root = tracer.start_span(f"gameday {report['scenario']}", start_time=_ns(start), attributes=_attributes(values))
    context = trace.set_span_in_context(root)
    detected = next((item["at"] for item in report["timeline"] if item["kind"] == "detected"), None)
    if detected is not None:
        tracer.start_span("detect", context=context, start_time=_ns(start)).end(
            end_time=_ns(datetime.fromisoformat(detected))
        )
        tracer.start_span("recover", context=context, start_time=_ns(datetime.fromisoformat(detected))).end(
            end_time=_ns(end)
        )
    for item in report["timeline"]:
        root.add_event(item["kind"], {"text": item["text"]}, timestamp=_ns(datetime.fromisoformat(item["at"])))
    if not report["passed"]:
        root.set_status(Status(StatusCode.ERROR, f"rehearsal ended {report['status']}"))
    root.end(end_time=_ns(end))
