"""The one boundary where Docker SDK and transport errors become harness errors; and what start-up imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from harness import engine
from harness.engine import Trouble, boundary
from harness.errors import EngineUnavailable, ImageError, InvalidInput, TargetError, TargetGone


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "x"
        self.url = "http://engine/x"


def _api(status: int, explanation: str) -> APIError:
    return APIError("engine said no", response=_Response(status), explanation=explanation)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (NotFound("no such container"), Trouble.MISSING),
        (ImageNotFound("no such image"), Trouble.MISSING),
        (_api(409, "removal of container x is already in progress"), Trouble.CONFLICT),
        (_api(500, "container x is not running"), Trouble.CONFLICT),
        (_api(500, "something else"), Trouble.REFUSED),
        (DockerException("Error while fetching server API version"), Trouble.CLIENT),
        (requests.ConnectionError("refused"), Trouble.UNAVAILABLE),
        (requests.ReadTimeout("Read timed out"), Trouble.UNAVAILABLE),
        (ConnectionResetError(), Trouble.UNAVAILABLE),
        (ValueError("not the engine's"), None),
    ],
)
def test_each_engine_error_has_one_kind(error: Exception, kind: Trouble | None) -> None:
    assert engine.classify(error) is kind


def test_the_boundary_turns_each_kind_into_a_harness_error_and_lets_others_through() -> None:
    expected = [
        (NotFound("x"), TargetGone, "disappeared while starting the target"),
        (_api(409, "in progress"), TargetGone, "stopped or was removed while starting the target: in progress"),
        (_api(500, "bad"), TargetError, "Docker refused starting the target"),
        (requests.ConnectionError("Connection refused"), EngineUnavailable, "connection refused at"),
    ]
    for error, kind, words in expected:
        with pytest.raises(kind, match=words) as caught, boundary("starting the target"):
            raise error
        assert caught.value.__cause__ is error
    with pytest.raises(ValueError), boundary("starting the target"):
        raise ValueError("a bug is not engine trouble")
    with pytest.raises(InvalidInput), boundary("starting the target"):  # harness's own errors pass untouched
        raise InvalidInput("bad input")


def test_a_caller_names_its_own_error_for_a_kind_or_for_all() -> None:
    def absent(exc: BaseException, doing: str) -> Exception:
        return InvalidInput(f"no container named 'web' ({doing})")

    missing = pytest.raises(InvalidInput, match="no container named 'web' \\(looking it up\\)")
    with missing, boundary("looking it up", {Trouble.MISSING: absent}):
        raise NotFound("x")
    failed = pytest.raises(ImageError, match="import failed")
    with failed, boundary("import", every=lambda exc, doing: ImageError(f"{doing} failed")):
        raise requests.ConnectionError("x")


def test_nothing_from_the_sdk_is_caught_outside_the_boundary() -> None:
    """docker.errors are caught nowhere in harness: every site goes through engine.boundary or engine.classify."""
    done = subprocess.run(
        [
            "grep",
            "-rlE",
            "--include=*.py",
            r"except .*\b(DockerException|APIError|NotFound|ImageNotFound)\b",
            "harness",
        ],
        capture_output=True,
        text=True,
    )
    assert done.stdout.split() == []


@pytest.mark.parametrize("module", ["harness.cli", "harness.scenario", "harness.target", "harness.pytest_plugin"])
def test_start_up_does_not_import_the_docker_sdk(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "heavy = ('docker', 'requests', 'testcontainers', 'paramiko', 'opentelemetry')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
