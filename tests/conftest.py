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
