"""Drills and rehearsals as OpenTelemetry traces: what a tracing backend receives."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from harness import otel
from harness.gameday.postmortem import build
from harness.gameday.state import ProbeFigures, Rehearsal, RehearsalState, Status, now
from harness.outcome import Result
from harness.timeline import PHASES
from tests.helpers import otlp_collector, run_harness


@pytest.fixture
def exported() -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def _by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_traces_are_sent_only_when_the_standard_environment_asks(environ: dict[str, str], expected: bool) -> None:
    assert otel.wanted(environ) is expected


def test_without_the_environment_opentelemetry_is_never_imported() -> None:
    code = (
        "import sys, harness.cli, harness.drill, harness.otel\n"
        "assert harness.otel.provider() is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.docker
def test_a_drill_is_one_trace_with_a_span_per_phase(
    harness_drill: Callable[..., Result], exported: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, memory = exported
    result = harness_drill("missing-symlink")
    otel.trace_drill(result, provider)
    spans = _by_name(memory.get_finished_spans())
    root = spans["drill missing-symlink"]
    assert root.parent is None and root.status.status_code is not StatusCode.ERROR
    attributes = dict(root.attributes or {})
    assert attributes["harness.cause"] == "site-not-enabled" and attributes["harness.cause_correct"] is True
    assert attributes["harness.verdict"] == "recovered" and attributes["harness.symptom"] == "refused"
    assert attributes["harness.time_to_detect_s"] == pytest.approx(result.time_to_detect)
    phases = [
        s for s in memory.get_finished_spans() if s.parent is not None and s.parent.span_id == root.context.span_id
    ]
    # On a loaded machine the doctor may look again after the repair (a round) while the reload takes effect.
    stages = [s.name for s in sorted(phases, key=lambda s: s.start_time or 0) if not s.name.startswith("round-")]
    assert stages == list(PHASES)
    assert spans["verify/doctor"].parent.span_id == spans["verify"].context.span_id  # type: ignore[union-attr]
    for span in phases:
        assert root.start_time <= span.start_time <= span.end_time <= root.end_time  # type: ignore[operator]
    events = {e.name: span.name for span in spans.values() for e in span.events}
    assert events["injected"] == "inject" and events["recovered"].startswith("verify")
    assert {"target-started", "steady", "detected", "diagnosed", "repaired", "torn-down"} <= set(events)


@pytest.mark.docker
def test_the_environment_sends_a_drill_to_an_otlp_endpoint() -> None:
    with otlp_collector() as (endpoint, received):
        done = run_harness("drill", "nginx-stopped", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="ci")
    assert done.returncode == 0, done.stderr
    body = b"".join(received)
    for text in (b"drill nginx-stopped", b"nginx-not-running", b"harness.time_to_recover_s", b"ci"):
        assert text in body


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[Rehearsal]:
    yield Rehearsal.create(tmp_path)


def test_a_rehearsal_is_traced_with_its_notes_and_hints(
    rehearsal: Rehearsal, exported: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, memory = exported
    start = now() - timedelta(minutes=5)
    rehearsal.add_note("checked the database pool", dead_end=True)
    rehearsal.add_hint(1, "look at what nginx has enabled")
    state = RehearsalState(
        rehearsal.id,
        Status.RECOVERED,
        scenario="missing-symlink",
        cause="site-not-enabled",
        summary="the link went away",
        injected_at=start,
        detected_at=start + timedelta(seconds=2),
        recovered_at=now(),
        probe=ProbeFigures("ok", "200", samples=600, failed=360, availability_pct=40.0, symptom="refused"),
    )
    otel.trace_rehearsal(build(rehearsal, state), provider)
    spans = _by_name(memory.get_finished_spans())
    root = spans["gameday missing-symlink"]
    assert dict(root.attributes or {})["harness.time_to_detect_s"] == pytest.approx(2.0, abs=0.01)
    kinds = [e.name for e in root.events]
    assert kinds == ["fault", "detected", "misleading-path", "hint", "resolved"]
    assert "checked the database pool" in str(root.events[2].attributes)
    assert {"detect", "recover"} <= set(spans)
