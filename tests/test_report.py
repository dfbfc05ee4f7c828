"""The resilience report: its score, its document, its page and Markdown, drawn from synthetic histories."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.history import ResultStore, Run
from harness.resilience import charts, document, page, rehearsal
from harness.resilience.make import make, since
from harness.resilience.markdown import to_markdown
from harness.resilience.score import Score, outcome, points
from tests.helpers import run_harness, validated

SKETCH = {
    "declared_cause": "site-not-enabled",
    "cause_correct": True,
    "summary": "the site's link is gone",
    "evidence": ["sites-enabled/default: missing"],
    "broken_step": {"step": "server", "detail": "no server answers :80", "where": "nginx.conf:12"},
    "phases": [
        ["steady", 0.5, 1.2, True],
        ["steady/doctor", 0.5, 1.0, True],
        ["inject", 1.2, 1.3, True],
        ["detect", 1.3, 1.6, True],
        ["diagnose", 1.6, 2.0, True],
        ["repair", 2.0, 2.2, True],
        ["verify", 2.2, 2.9, False],
        ["repair", 2.9, 3.1, True],
        ["verify", 3.1, 3.5, True],
    ],
    "events": [["injected", 1.2, ""], ["detected", 1.35, ""], ["diagnosed", 2.0, ""], ["recovered", 3.2, ""]],
    "probe": [["ok", 20, 0.5, 1.3], ["refused", 30, 1.35, 3.1], ["ok", 8, 3.2, 3.5]],
}


def drill(
    scenario: str,
    verdict: str,
    ttr: float | None,
    run_id: str,
    day: int,
    site: str = "",
    image: str = "harness-nginx:1",
    cause: str = "site-not-enabled",
) -> Run:
    detail = {**SKETCH, "diagnosis": cause, "cause_correct": cause == "site-not-enabled", "reason": "why"}
    return Run(
        "drill",
        scenario,
        verdict,
        verdict in ("recovered", "withstood"),
        0.25,
        ttr,
        5.0,
        run_id=run_id,
        recorded_at=f"2026-11-{day:02d}T10:00:00.000+00:00",
        detail=json.dumps(detail),
        site=site,
        site_name="shop" if site else "",
        image=image,
    )


def history() -> list[Run]:
    """Four runs on the test server and two on a site: one scenario breaks in the newest run, one gets slower."""
    runs = []
    for day in range(1, 5):
        runs.append(drill("missing-symlink", "recovered", 1.0 + day / 100, f"r{day}", day))
        runs.append(drill("upstream-port", "recovered", 6.0 if day == 4 else 2.0, f"r{day}", day))
        runs.append(
            drill("fd-limit", "not-recovered" if day == 4 else "recovered", None if day == 4 else 3.0, f"r{day}", day)
        )
    for day in (3, 4):
        runs.append(drill("worker-connections", "withstood", None, f"s{day}", day, site="0123456789abcdef"))
        runs.append(drill("index-missing", "error", None, f"s{day}", day, site="0123456789abcdef"))
    return runs


def test_points_follow_the_formula() -> None:
    assert points("withstood", None) == 100
    assert points("recovered", 4.0, target=10) == 100
    assert points("recovered", 20.0, target=10) == 75
    assert points("recovered", 1000.0, target=10) == pytest.approx(50.5)
    assert points("not-recovered", None) == 0 and points("not-detected", None) == 0
    assert points("error", None) is None and points("not-steady", None) is None and points("interrupted", 1) is None
    assert outcome("withstood") == "withstood" and outcome("not-steady") == "not-scored"


def test_the_score_averages_what_was_scored_and_counts_the_rest_apart() -> None:
    score = Score.of([("withstood", None), ("recovered", 20.0), ("not-recovered", None), ("error", None)], 10)
    assert (score.value, score.scored, score.not_scored) == (round((100 + 75 + 0) / 3, 1), 3, 1)
    assert Score.of([("error", None)]).value is None


def test_the_document_has_a_section_per_site_and_image_with_its_own_trend() -> None:
    built = document.build(history(), target=10, slower_pct=20)
    test_server, site = built["sections"]
    assert (
        test_server["site"] is None and site["site"] == "0123456789abcdef" and site["label"] == "site shop (01234567)"
    )
    assert test_server["broke"] == ["fd-limit"] and test_server["slower"] == ["upstream-port"]
    rows = {s["scenario"]: s for s in test_server["scenarios"]}
    assert rows["upstream-port"]["slower"] == {
        "latest_s": 6.0,
        "median_s": 2.0,
        "baseline_runs": 3,
        "change_pct": 200.0,
        "slower": True,
    }
    assert rows["upstream-port"]["recover"] == {"median": 2.0, "min": 2.0, "max": 6.0, "runs": 4}
    # withstood is an outcome of its own, and a harness error is not scored (never a 0 for the site)
    assert {s["scenario"]: s["outcome"] for s in site["scenarios"]} == {
        "index-missing": "not-scored",
        "worker-connections": "withstood",
    }
    assert site["score"] == {"value": 100.0, "scored": 1, "not_scored": 1}
    # the trend: perfect for three runs, then a drop that names what fell
    assert [p["score"] for p in test_server["trend"]] == [100.0, 100.0, 100.0, round((100 + 0 + 100) / 3, 1)]
    assert test_server["trend"][-1]["dropped"] and test_server["trend"][-1]["fell"] == ["fd-limit"]
    assert rows["missing-symlink"]["timeline"]["phases"][0] == ["steady", 0.5, 1.2, True]


class _Page(HTMLParser):
    """The matrix rows and the scores, as the DOM holds them."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.scores: list[str] = []
        self.scripts = 0
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-scenario" in found:
            self.rows.append(found)
        if "data-score" in found:
            self.scores.append(found["data-score"])
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if re.match(r"(https?:)?//", found.get(name, "")):
                self.remote.append(found[name])


def _parse(html: str) -> _Page:
    parsed = _Page()
    parsed.feed(html)
    return parsed


def _number(text: str) -> float | None:
    return float(text) if text else None


def test_the_page_shows_the_numbers_of_its_json_and_loads_nothing(tmp_path: Path) -> None:
    built = document.build(history())
    page.write(tmp_path, built)
    html = (tmp_path / "index.html").read_text()
    assert validated((tmp_path / "report.json").read_text(), "report") == built
    parsed = _parse(html)
    assert parsed.scripts == 0 and parsed.remote == []
    expected = [s for section in built["sections"] for s in section["scenarios"]]
    assert [(r["data-scenario"], r["data-outcome"]) for r in parsed.rows] == [
        (s["scenario"], s["outcome"]) for s in expected
    ]
    for row, scenario in zip(parsed.rows, expected, strict=True):
        assert _number(row["data-ttd"]) == scenario["time_to_detect_s"]
        assert _number(row["data-ttr"]) == scenario["time_to_recover_s"]
        assert _number(row["data-points"]) == scenario["points"]
    assert [_number(s) for s in parsed.scores] == [s["score"]["value"] for s in built["sections"]]
    assert built["score_formula"]["text"] in html.replace("&#39;", "'")
    assert "@media print" in html


@pytest.mark.slow  # 75 timelines drawn
def test_the_page_of_a_catalogue_on_three_sites_stays_under_a_megabyte(tmp_path: Path) -> None:
    runs = [
        drill(
            f"scenario-{n:02d}",
            "recovered" if n % 7 else "withstood",
            1.0 + n / 10 + day / 50,
            f"{site}{day}",
            day,
            site=site,
        )
        for site in ("", "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb")
        for day in range(1, 11)
        for n in range(25)
    ]
    page.write(tmp_path, document.build(runs))
    size = (tmp_path / "index.html").stat().st_size
    assert size < 1_000_000, size
    markdown = (tmp_path / "report.md").read_text()
    assert len(markdown) < 65_536  # GitHub's step summary and comment limit


def test_the_markdown_says_what_broke_what_got_slower_and_the_score() -> None:
    text = to_markdown(document.build(history()))
    assert "- **Broke:** fd-limit" in text and "- **Got slower:** upstream-port" in text
    assert "Resilience score **66.7**/100 (was 100.0)" in text
    assert "| worker-connections | ■ withstood |" in text
    # what a reader sees without unfolding: the score, what broke, what got slower, and those rows alone
    folded = re.sub(r"<details>.*?</details>", "", text, flags=re.S)
    assert "| missing-symlink |" not in folded and "| fd-limit | ✖ not-recovered |" in folded
    assert len(folded.splitlines()) < 30


@pytest.mark.parametrize(
    ("phase", "lane", "sub"),
    [
        ("steady", "steady", False),
        ("verify/doctor", "verify", True),
        ("round 2/repair", "repair", False),
        ("round-3/diagnose", "diagnose", False),
        ("soak", "soak", False),
    ],
)
def test_a_phase_finds_its_lane_so_repair_rounds_repeat_in_theirs(phase: str, lane: str, sub: bool) -> None:
    assert charts._lane(phase) == (lane, sub)


def test_a_timeline_draws_a_bar_per_round_and_names_the_rounds() -> None:
    svg = charts.timeline(SKETCH)
    assert svg.startswith("<svg") and "<script" not in svg
    assert "round 2" in svg and ">verify<" in svg and ">probe<" in svg


def test_since_takes_dates_times_and_ages() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert since("7d", now) == "2026-11-27T12:00:00.000+00:00"
    assert since("12h", now) == "2026-12-04T00:00:00.000+00:00"
    assert since("2026-12-01") == "2026-12-01T00:00:00.000+00:00"
    with pytest.raises(Exception, match="give a date or time"):
        since("last tuesday")


def test_the_report_command_draws_the_numbers_of_the_history(tmp_path: Path) -> None:
    """The numbers on the page equal those in the JSON, and those in the history (rounded to the millisecond)."""
    path = tmp_path / "results.sqlite"
    store = ResultStore(path)
    for run in history():
        store.append(run)
    out = tmp_path / "report"
    proc = run_harness(
        "report", "--out", str(out), "--scenario", "upstream-port", "--scenario", "fd-limit", HARNESS_RESULTS=str(path)
    )
    assert proc.returncode == 0, proc.stderr
    assert "harness's test server: score 50.0, 1 broke, 1 slower" in proc.stderr
    built = json.loads((out / "report.json").read_text())
    (section,) = built["sections"]
    stored = {r.scenario: r for r in store.runs()}  # the newest of each
    rows = {r["data-scenario"]: r for r in _parse((out / "index.html").read_text()).rows}
    assert set(rows) == {"upstream-port", "fd-limit"}
    for scenario in section["scenarios"]:
        run = stored[scenario["scenario"]]
        for ours, theirs, attr in (
            (scenario["time_to_recover_s"], run.time_to_recover, "data-ttr"),
            (scenario["time_to_detect_s"], run.time_to_detect, "data-ttd"),
        ):
            assert ours == (None if theirs is None else round(theirs, 3))
            assert _number(rows[scenario["scenario"]][attr]) == ours
        assert scenario["verdict"] == run.verdict


def test_drilling_writes_no_report_module_into_memory() -> None:
    """`harness --help` and a drill's command pay nothing for the report's libraries."""
    code = (
        "import sys, harness.cli, harness.cli.drill, harness.cli.report, harness.pytest_plugin\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'jinja2', 'numpy'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_without_the_extra_the_report_is_one_line_of_bad_input(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)
    with pytest.raises(Exception, match=r"pip install 'nginx-harness\[report\]'"):
        make(ResultStore(tmp_path / "none.sqlite"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def postmortem() -> dict[str, Any]:
    def at(seconds: float) -> str:
        return datetime.fromtimestamp(1_764_000_000 + seconds, UTC).isoformat(timespec="milliseconds")

    return {
        "id": "r1",
        "scenario": "missing-symlink",
        "status": "recovered",
        "summary": {
            "recovered": True,
            "failed_requests_pct": 80.0,
            "probe_requests": 200,
            "symptom": "refused",
            "root_cause": {"cause": "site-not-enabled", "in_words": "sites-enabled/default link deleted"},
        },
        "timeline": [
            {"at": at(0), "kind": "fault", "text": "The fault went in"},
            {"at": at(2.5), "kind": "detected", "text": "Detected by the probe"},
            {"at": at(30), "kind": "misleading-path", "text": "checked the firewall"},
            {"at": at(45), "kind": "hint", "text": "Hint 1 used: look at sites-enabled"},
            {"at": at(50), "kind": "note", "text": "the link is gone"},
            {"at": at(70), "kind": "resolved", "text": "port 80 serves again"},
        ],
        "misleading_paths": [{"at": at(30), "text": "checked the firewall"}],
        "doctor": {"before": None, "after": None},
        "measures": ["Deploy the link with the site."],
        "regression_test": {"command": "harness verify-fix missing-symlink fixes/missing-symlink.sh"},
        "figures": {"time_to_detect_s": 2.5, "time_to_recover_s": 70.0, "hints_used": 1, "notes": 2},
    }


def test_the_postmortem_page_draws_notes_hints_dead_ends_and_the_resolution_as_marks() -> None:
    drawn, marks = rehearsal.sketch(postmortem())
    assert [m[:2] for m in marks] == [(30.0, "dead end"), (45.0, "hint"), (50.0, "note"), (70.0, "resolved")]
    assert drawn["phases"][-1] == ["people at work", 2.5, 70.0, True]
    html = rehearsal.render_html(postmortem())
    assert "<script" not in html and html.count('<tr data-kind="') == 6
    for word in ("dead end", "hint", "note", "resolved"):
        assert f">{word}<" in html
    assert 'data-ttd="2.5" data-ttr="70.0"' in html


def test_the_plugin_writes_the_report_of_the_sites_its_session_drilled(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drill recorded during the session (here appended as a drill fixture would) puts its site and image in the
    report, with that site's earlier history; a site the session did not drill stays out."""
    results = tmp_path / "results.sqlite"
    monkeypatch.setenv("HARNESS_RESULTS", str(results))
    store = ResultStore(results)
    store.append(drill("nginx-stopped", "recovered", 2.0, "earlier", 1))
    store.append(drill("nginx-stopped", "recovered", 9.0, "earlier", 1, site="feedfacefeedface"))
    pytester.makepyfile(
        f"""
        from harness.history import ResultStore, Run

        def test_drill():
            ResultStore(__import__("pathlib").Path({str(results)!r})).append(
                Run("drill", "nginx-stopped", "recovered", True, 0.2, 3.0, 4.0, run_id="now", image="harness-nginx:1")
            )
        """
    )
    outcome_of = pytester.runpytest("-p", "no:randomly", "--harness-report", str(tmp_path / "out"))
    outcome_of.assert_outcomes(passed=1)
    outcome_of.stdout.fnmatch_lines([f"harness report: {tmp_path / 'out' / 'index.html'}"])
    built = json.loads((tmp_path / "out" / "report.json").read_text())
    (section,) = built["sections"]
    assert section["site"] is None
    assert [r["time_to_recover_s"] for r in section["scenarios"][0]["runs"]] == [2.0, 3.0]


def test_report_site_keeps_that_tree_alone(tmp_path: Path) -> None:
    from harness.site import load_site

    tree = Path(__file__).parent / "sites" / "vhosts"
    path = tmp_path / "results.sqlite"
    store = ResultStore(path)
    store.append(drill("nginx-stopped", "recovered", 2.0, "a", 1, site=load_site(tree).digest))
    store.append(drill("nginx-stopped", "recovered", 2.0, "b", 1, site="feedfacefeedface"))
    store.append(drill("nginx-stopped", "recovered", 2.0, "c", 1))
    proc = run_harness("report", "--site", str(tree), "--out", str(tmp_path / "out"), HARNESS_RESULTS=str(path))
    assert proc.returncode == 0, proc.stderr
    built = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [s["site"] for s in built["sections"]] == [load_site(tree).digest]
    assert built["filters"]["site"] == f"vhosts ({load_site(tree).digest[:8]})"


def test_what_servers_and_people_wrote_is_shown_as_text_never_run() -> None:
    hostile = "<script>alert(1)</script>"
    run = drill("nginx-stopped", "recovered", 2.0, "a", 1)
    detail = {**json.loads(run.detail), "evidence": [hostile], "summary": hostile}
    html = page.render_html(document.build([replace(run, detail=json.dumps(detail), scenario="x<b>y")]))
    assert "<script" not in html and "&lt;script&gt;" in html and "x<b>y" not in html


def test_withstood_names_no_cause_and_on_the_test_server_is_a_broken_scenario_not_a_strength() -> None:
    runs = [
        drill("worker-connections", "withstood", None, "a", 1, cause="healthy"),
        drill("worker-connections", "withstood", None, "b", 1, site="0123456789abcdef", cause="healthy"),
        drill("nginx-stopped", "recovered", 2.0, "a", 1),
    ]
    own, site = document.build(runs)["sections"]
    assert own["score"] == {"value": 100.0, "scored": 1, "not_scored": 1}
    assert own["broken_scenarios"] == ["worker-connections"] and site["broken_scenarios"] == []
    assert site["score"] == {"value": 100.0, "scored": 1, "not_scored": 0}
    withstood = own["scenarios"][1]
    assert (withstood["outcome"], withstood["cause"], withstood["cause_correct"]) == ("withstood", None, None)
    assert own["wrong_cause"] == [] and points("withstood", None, own_server=True) is None
    assert "broke nothing on the test server" in page.render_html(document.build(runs))
