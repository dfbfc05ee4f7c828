import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session", autouse=True)
def _results_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests record their drills in a throwaway results store, never in the checkout's .harness/."""
    previous = os.environ.get("HARNESS_RESULTS")
    os.environ["HARNESS_RESULTS"] = str(tmp_path_factory.mktemp("results") / "results.sqlite")
    yield
    if previous is None:
        os.environ.pop("HARNESS_RESULTS", None)
    else:
        os.environ["HARNESS_RESULTS"] = previous


# An engine that cannot exist. Every test not marked `docker` runs with it, so a pure test that quietly needs an
# engine fails in the ordinary run instead of passing on the real one: `pytest -m "not docker"` needs no engine.
NO_ENGINE = "unix:///nonexistent/harness-pure-test.sock"


@pytest.fixture(autouse=True)
def _no_engine_for_pure_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
