"""The soak's judgement of leaks and memory, on made-up figures."""

from __future__ import annotations

from harness.soak import Sample, SoakReport


def _report(rss: list[float], fds: list[int] | None = None, left: int = 0) -> SoakReport:
    report = SoakReport(seed=1)
    for i, mb in enumerate(rss):
        fd = fds[i] if fds else 12
        report.samples.append(Sample(i + 1, "nginx-stopped", True, "recovered", 2.0, mb, fd, 1, left if i == 3 else 0))
    return report


def test_flat_memory_after_warm_up_passes_even_if_warm_up_grew() -> None:
    report = _report([40, 55, 58, 60, 60.5, 60, 61, 60.2, 60.4, 60.1, 60.3, 60.6])
    assert report.memory_flat and report.ok


def test_memory_that_keeps_growing_fails() -> None:
    report = _report([40 + 3 * i for i in range(40)])
    assert not report.memory_flat and not report.ok


def test_a_container_left_behind_or_growing_descriptors_are_leaks() -> None:
    assert _report([50.0] * 10, left=1).leaks == ["1 containers outlived their drills"]
    assert "open file descriptors grew by 20" in _report([50.0] * 10, fds=[12] * 5 + [32] * 5).leaks
