"""pytest plugin (entry point `pytest11`): fixtures and markers for drills.

Fixtures:
  harness_session   one Session per test process (xdist workers get their own);
                    it builds or reuses the image and removes its run's leftovers.
  harness_target    a fresh, started target, removed after the test.
  harness_scenario  the Scenario named by the test's `scenario` marker.
  harness_drill     call it with a scenario name; it runs a whole drill and returns the Result.
  harness_each_scenario
                    parametrizes the test over the whole catalogue: one test per
                    scenario, each carrying its `scenario` marker.
  harness_verify_fix
                    call it with a scenario and a fix file; it runs verify-fix and
                    returns the FixReport, failing the test with the name of the
                    first failed check (pass must_pass=False to judge it yourself).

Every drill and verify-fix run through these fixtures is appended to the
results history (.harness/results.sqlite, or HARNESS_RESULTS), and its figures
are recorded on the test's JUnit <testcase> as properties (harness.verdict,
harness.time_to_detect_s, ...), under pytest-xdist too.

Markers:
  @pytest.mark.scenario("missing-symlink")   the test drives that scenario;
                                             `--harness-scenario NAME` selects by it.
  @pytest.mark.docker                        the test starts real targets (added
                                             automatically to tests using the fixtures).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.signals import sigterm_as_interrupt

# The rest of harness is imported by the fixtures that use it: a suite that never asks for a drill must not
# pay for the Docker SDK and the doctor at collection (measured by bench/bench.py, goal: under 50 ms).
if TYPE_CHECKING:
    from harness.drill import Repair
    from harness.outcome import Result
    from harness.scenario import Scenario
    from harness.session import Session
    from harness.site import Site
    from harness.target import Target
    from harness.verify import FixReport

_DOCKER_FIXTURES = {
    "harness_session",
    "harness_target",
    "harness_drill",
    "harness_scenario",
    "harness_each_scenario",
    "harness_verify_fix",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "nginx chaos drills (harness)")
    group.addoption(
        "--harness-scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="Run only the tests marked with scenario NAME (repeatable); tests without the marker still run.",
    )
    group.addoption(
        "--harness-interval", type=float, default=None, metavar="MS", help="Probe interval for drills, in ms."
    )
    group.addoption(
        "--harness-site",
        default=None,
        metavar="DIR",
        help="Drill your own nginx configuration tree instead of harness's test server (see `harness init`).",
    )
    group.addoption(
        "--harness-report",
        default=None,
        metavar="DIR",
        help="After the session, write the resilience report (page, Markdown, JSON) of the sites it drilled into DIR.",
    )
    parser.addini("harness_site", "nginx configuration tree the harness fixtures drill (as --harness-site)", default="")


_SESSION_STARTED = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    from datetime import UTC, datetime

    config.stash[_SESSION_STARTED] = datetime.now(UTC).isoformat(timespec="milliseconds")
    config.addinivalue_line(
        "markers", "scenario(name): the test drives harness scenario NAME; select with --harness-scenario NAME"
    )
    config.addinivalue_line("markers", "docker: the test starts real nginx targets and needs a Docker engine")


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    # A CI job stopped with SIGTERM then unwinds like Ctrl-C: fixtures tear their targets down.
    with sigterm_as_interrupt():
        return (yield)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """--harness-report: the sites and images this session drilled, each with its whole history. Written once, by
    the process that is not an xdist worker; the workers' drills are in the shared history by then."""
    config = session.config
    out = config.getoption("harness_report", None)
    if not out or hasattr(config, "workerinput"):
        return
    from harness.config import Settings
    from harness.history import ResultStore
    from harness.resilience.make import make

    folder = Path(str(out)) if str(out).startswith("/") else Path(str(config.invocation_params.dir), str(out))
    store = ResultStore(Settings.from_env().results)
    built, written = make(store, folder, touched_since=config.stash[_SESSION_STARTED])
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and built["sections"]:
        reporter.write_line(f"harness report: {written[0]}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "harness_each_scenario" in metafunc.fixturenames:
        from harness.catalogue import load_catalogue

        params = [pytest.param(name, id=name, marks=pytest.mark.scenario(name)) for name in load_catalogue().names()]
        metafunc.parametrize("harness_each_scenario", params, indirect=True)


def _scenario_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("scenario")
    if marker is None:
        return None
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.scenario('name') with exactly one scenario name")
    return str(marker.args[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(config.getoption("harness_scenario"))
    if wanted:
        from harness.catalogue import load_catalogue

        known = set(load_catalogue().names())
        unknown = sorted(wanted - known)
        if unknown:
            bad, listing = ", ".join(unknown), ", ".join(sorted(known))
            raise pytest.UsageError(f"--harness-scenario: unknown scenario {bad}; known scenarios: {listing}")
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        if _DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)
        name = _scenario_of(item)
        (drop if wanted and name is not None and name not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _site(config: pytest.Config) -> Site | None:
    folder = config.getoption("harness_site") or config.getini("harness_site")
    if not folder:
        return None
    from harness.errors import InvalidInput
    from harness.site import load_site

    try:
        return load_site(Path(str(config.rootpath), str(folder)) if not str(folder).startswith("/") else str(folder))
    except InvalidInput as exc:
        raise pytest.UsageError(f"--harness-site: {exc}") from None


@pytest.fixture(scope="session")
def harness_session(request: pytest.FixtureRequest) -> Iterator[Session]:
    from harness.errors import HarnessError
    from harness.session import Session

    with Session(site=_site(request.config)) as session:
        try:
            session.image  # noqa: B018 - connect and build now, so a missing engine is one clear line
        except HarnessError as exc:
            pytest.fail(f"harness: {exc}", pytrace=False)
        yield session
        leaked = session.leftovers()
    if leaked:
        raise AssertionError(f"harness left containers of run {session.run_id} behind: {', '.join(leaked)}")


@pytest.fixture
def harness_target(harness_session: Session) -> Iterator[Target]:
    with harness_session.new_target() as target:
        yield target


@pytest.fixture
def harness_scenario(request: pytest.FixtureRequest, harness_session: Session) -> Scenario:
    name = _scenario_of(request.node)
    if name is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses harness_scenario without @pytest.mark.scenario('name')")
    return harness_session.catalogue.get(name)


@pytest.fixture
def harness_each_scenario(request: pytest.FixtureRequest, harness_session: Session) -> Scenario:
    """One scenario of the catalogue per test (parametrized in pytest_generate_tests); on a site, skipped with
    the reason when it cannot apply there."""
    from harness.choice import missing

    scenario = harness_session.catalogue.get(request.param)
    reason = missing(scenario.needs, harness_session.site)
    if reason:
        pytest.skip(
            f"{scenario.name} does not apply to {harness_session.site.folder if harness_session.site else ''}: {reason}"
        )
    return scenario


def record_properties(item: pytest.Item, result: Result, **more: object) -> None:
    """Put a drill's figures on the test's JUnit <testcase>.

    Appended to `user_properties`, which junitxml writes for every junit_family
    and xdist carries from its workers; the `record_property` fixture would warn
    under the default family (xunit2), an error under filterwarnings = error.
    """
    diagnosis = result.diagnosis
    figures: dict[str, object] = {
        "scenario": result.scenario,
        "verdict": result.verdict.value,
        "passed": result.passed,
        "time_to_detect_s": "" if result.time_to_detect is None else f"{result.time_to_detect:.3f}",
        "time_to_recover_s": "" if result.time_to_recover is None else f"{result.time_to_recover:.3f}",
        "symptom": result.symptom_seen.value if result.symptom_seen else "",
        "cause": diagnosis.cause if diagnosis is not None else "",
        "cause_correct": result.diagnosis_correct,
        "image": result.image,
        "site": result.site,  # the --harness-site tree drilled ("": harness's own test server)
        **more,
    }
    item.user_properties.extend(
        (f"harness.{name}", str(value).lower() if isinstance(value, bool) else str(value))
        for name, value in figures.items()
    )


@pytest.fixture
def harness_drill(request: pytest.FixtureRequest, harness_session: Session) -> Callable[..., Result]:
    from harness.drill import Drill, DrillOptions, repair_by_remedy
    from harness.history import ResultStore
    from harness.records import run_of_drill

    interval_ms = request.config.getoption("harness_interval")

    def run(scenario: str | Scenario, repair: Repair = repair_by_remedy, **options: Any) -> Result:
        """Drill SCENARIO; `repair` replaces the remedy (e.g. a fix under test), options tune DrillOptions."""
        chosen = harness_session.catalogue.get(scenario) if isinstance(scenario, str) else scenario
        base = DrillOptions(interval=interval_ms / 1000 if interval_ms else harness_session.settings.probe_interval)
        result = Drill(harness_session, chosen, options=replace(base, **options), repair=repair).run()
        ResultStore(harness_session.settings.results).append(run_of_drill(result))
        record_properties(request.node, result)
        return result

    return run


@pytest.fixture
def harness_verify_fix(request: pytest.FixtureRequest, harness_session: Session) -> Callable[..., FixReport]:
    from harness.errors import InvalidInput
    from harness.fix import Fix
    from harness.history import ResultStore
    from harness.records import run_of_fix
    from harness.verify import VerifyOptions, verify_fix

    def run(
        scenario: str | Scenario, fix: str | Path, *, must_pass: bool = True, scope: bool = False, **options: Any
    ) -> FixReport:
        """verify-fix FIX against SCENARIO; `options` tune VerifyOptions (fix_timeout, settle_timeout, ...)."""
        chosen = harness_session.catalogue.get(scenario) if isinstance(scenario, str) else scenario
        try:
            loaded = Fix.load(fix)
        except InvalidInput as exc:
            pytest.fail(f"harness: {exc}", pytrace=False)
        base = VerifyOptions(interval=harness_session.settings.probe_interval, scope=scope)
        report = verify_fix(harness_session, chosen, loaded, replace(base, **options))
        ResultStore(harness_session.settings.results).append(run_of_fix(report))
        restore = "" if report.time_to_restore is None else f"{report.time_to_restore:.3f}"
        record_properties(
            request.node, report.drill, fix=loaded.name, fix_verdict=report.verdict.value, time_to_restore_s=restore
        )
        if must_pass and not report.passed:
            failed = report.failed_checks()
            what = (
                "; ".join(f"check {c.name!r} {c.status.value}: {c.summary}" for c in failed)
                if failed
                else report.reason
            )
            pytest.fail(f"fix {loaded.name} against {chosen.name}: {what}", pytrace=False)
        return report

    return run
