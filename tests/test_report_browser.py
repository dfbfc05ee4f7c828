"""The resilience report in a real browser: made from real drills and history, opened by headless Chromium.

Needs Debian's chromium and chromium-driver (bin/setup installs them when CI=true or HARNESS_BROWSER=1) and
Selenium (the dev extra). Skipped without them locally; in CI (CI=true) their absence fails the test.
The screenshot lands in tests/artifacts/report.png and the page in tests/artifacts/report/, which CI keeps.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.history import ResultStore
from tests.helpers import run_harness

ARTIFACTS = Path(__file__).parent / "artifacts"
SITE = Path(__file__).parent / "sites" / "vhosts"
SCENARIOS = ("nginx-stopped", "missing-symlink")
pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow]


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        why = "Selenium is not installed (pip install -e '.[dev]')"
    else:
        if browser and driver:
            return browser, driver
        why = "headless Chromium is not installed (HARNESS_BROWSER=1 bin/setup, or apt install chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Real drills on the test server and on a test site, each after three earlier runs in the history."""
    _chromium()
    folder = tmp_path_factory.mktemp("report")
    results = folder / "results.sqlite"
    store = ResultStore(results)
    for args in ((), ("--site", str(SITE))):
        proc = run_harness("drill", *SCENARIOS, "--json", *args, HARNESS_RESULTS=str(results))
        assert proc.returncode == 0, proc.stderr
    # Earlier runs of the same scenarios, sites and images, as a week of CI would have left them.
    # One of them did not recover, so that the trend shows a drop and its repair.
    for day, run in enumerate(list(store.runs()) * 3):
        older = f"2026-01-{1 + day % 28:02d}T10:00:00.000+00:00"
        earlier = replace(run, id=0, recorded_at=older, run_id=f"earlier-{day // 4}")
        if day == 5:
            earlier = replace(earlier, verdict="not-recovered", passed=False, time_to_recover=None)
        else:
            earlier = replace(earlier, time_to_recover=(run.time_to_recover or 0) * (0.8 + 0.1 * (day % 4)))
        store.append(earlier)
    # drill --report writes the same report after a run; `harness report` reads every site
    drilled = folder / "after-drill"
    proc = run_harness("drill", "nginx-stopped", "--report", str(drilled), HARNESS_RESULTS=str(results))
    assert proc.returncode == 0, proc.stderr
    assert (drilled / "index.html").is_file() and "report: " in proc.stderr
    out = folder / "page"
    proc = run_harness("report", "--out", str(out), HARNESS_RESULTS=str(results))
    assert proc.returncode == 0, proc.stderr
    yield out, json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1700")
    options.set_capability("goog:loggingOptions", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield chrome
    finally:
        chrome.quit()


def test_the_report_of_real_drills_opens_cleanly_and_shows_the_numbers_of_its_json(
    report: tuple[Path, dict[str, Any]], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    out, built = report
    browser.get((out / "index.html").as_uri())
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    sections = browser.find_elements(By.CSS_SELECTOR, "section.site")
    assert len(sections) == len(built["sections"]) == 2
    for element, section in zip(sections, built["sections"], strict=True):
        assert section["label"] in element.find_element(By.TAG_NAME, "h2").text
        score = element.find_element(By.CSS_SELECTOR, ".score")
        assert score.text == f"{section['score']['value']:.1f}"
        rows = element.find_elements(By.CSS_SELECTOR, "table.matrix tbody tr")
        assert [r.get_attribute("data-scenario") for r in rows] == sorted(SCENARIOS)
        for row, scenario in zip(rows, section["scenarios"], strict=True):
            cells = row.find_elements(By.TAG_NAME, "td")
            assert scenario["outcome"] == "recovered" and row.get_attribute("data-outcome") == "recovered"
            assert cells[6].text == f"{scenario['time_to_detect_s']:.3f} s"
            assert cells[7].text.startswith(f"{scenario['time_to_recover_s']:.3f} s")
            assert f"{scenario['points']:.1f}" == cells[9].text
        timelines = element.find_elements(By.CSS_SELECTOR, "figure.timeline svg")
        assert len(timelines) == len(SCENARIOS) and all(t.size["height"] > 50 for t in timelines)
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report.png"))
    shutil.copytree(out, ARTIFACTS / "report", dirs_exist_ok=True)  # the page itself, beside its picture
