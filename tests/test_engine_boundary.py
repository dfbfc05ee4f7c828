"""The one boundary where Docker SDK and transport errors become harness errors; and what start-up imports."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from harness import engine
from harness.engine import Trouble, boundary
from harness.errors import EngineUnavailable, HarnessError, ImageError, InvalidInput, TargetError, TargetGone
from tests.helpers import run_harness


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


# -- each entry into the engine, with the SDK made to raise ------------------------------------------------
# A fake stands in for the Docker SDK's objects; each call named raises what the engine or the transport would.


class _Raises:
    """Any attribute is a call that raises ERROR; ATTRS are plain values."""

    def __init__(self, error: BaseException, **attrs: Any) -> None:
        self._error = error
        self.__dict__.update(attrs)

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise self._error

        return call


DOWN = requests.ConnectionError("('Connection aborted.', ConnectionRefusedError(111, 'Connection refused'))")
REFUSED = _api(500, "the engine said no")


def _one_line_harness_error(caught: pytest.ExceptionInfo[BaseException], kind: type[HarnessError]) -> str:
    assert isinstance(caught.value, kind)
    text = str(caught.value)
    assert text and "\n" not in text
    return text


def test_connect_names_the_engine_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    monkeypatch.setattr(docker, "from_env", lambda **kwargs: _Raises(DOWN))
    with pytest.raises(EngineUnavailable) as caught:
        engine.connect()
    assert "no Docker engine answers at" in _one_line_harness_error(caught, EngineUnavailable)


def test_the_ryuk_check_takes_a_missing_image_as_no_ryuk_and_a_silent_engine_as_trouble(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from testcontainers.core.config import testcontainers_config

    monkeypatch.delenv("TESTCONTAINERS_RYUK_DISABLED", raising=False)
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", False)
    assert engine.configure_reaper(_Raises(None, images=_Raises(ImageNotFound("no")))) is False  # type: ignore[arg-type]
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", False)
    with pytest.raises(EngineUnavailable) as caught:
        engine.configure_reaper(_Raises(None, images=_Raises(DOWN)))  # type: ignore[arg-type]
    _one_line_harness_error(caught, EngineUnavailable)


def test_check_and_init_look_up_and_copy_through_the_boundary() -> None:
    from harness.check import ExistingServer, find_container

    with pytest.raises(InvalidInput, match="no container named 'web'"):
        find_container(_Raises(None, containers=_Raises(NotFound("no"))), "web")  # type: ignore[arg-type]
    with pytest.raises(EngineUnavailable) as caught:
        find_container(_Raises(None, containers=_Raises(DOWN)), "web")  # type: ignore[arg-type]
    _one_line_harness_error(caught, EngineUnavailable)
    # `init --from` decides by the kind of trouble, not by "404" in a message.
    missing = ExistingServer(_Raises(NotFound("no such file"), name="web"))
    with pytest.raises(InvalidInput, match=r"^/srv/www does not exist in the container$"):
        missing.archive("/srv/www")
    refused = ExistingServer(_Raises(_api(500, "404 Client Error is in this text"), name="web"))
    with pytest.raises(TargetError) as caught:
        refused.archive("/srv/www")
    assert "Docker refused copying /srv/www out of web" in _one_line_harness_error(caught, TargetError)
    with pytest.raises(EngineUnavailable) as caught:
        ExistingServer(_Raises(DOWN, name="web")).exec(["true"])
    _one_line_harness_error(caught, EngineUnavailable)


def test_listing_a_runs_containers_goes_through_the_boundary() -> None:
    from harness.session import Session

    session = Session()
    session._client = _Raises(None, containers=_Raises(DOWN))  # type: ignore[assignment]
    with pytest.raises(EngineUnavailable) as caught:
        session.leftovers()
    assert "listing this run's containers" in _one_line_harness_error(caught, EngineUnavailable)


def test_image_lookup_pull_and_removal_go_through_the_boundary(tmp_path: Any) -> None:
    from harness import image
    from harness.config import Settings

    with pytest.raises(EngineUnavailable) as caught:
        image._find(_Raises(None, images=_Raises(DOWN)), "x:1")  # type: ignore[arg-type]
    _one_line_harness_error(caught, EngineUnavailable)
    assert image._find(_Raises(None, images=_Raises(ImageNotFound("no"))), "x:1") is None  # type: ignore[arg-type]
    # A pull the engine cannot even be asked for is no registry trouble: no local fallback is tried.
    images = _Raises(DOWN, get=_Raises(ImageNotFound("no")).get)
    with pytest.raises(EngineUnavailable) as caught:
        image._resolve_base(_Raises(None, images=images), Settings(), tmp_path, lambda line: None)  # type: ignore[arg-type]
    assert "pulling the base" in _one_line_harness_error(caught, EngineUnavailable)
    old = _Raises(None, tags=[], id="sha256:x", short_id="x")
    image._drop_replaced(_Raises(None, images=_Raises(_api(409, "image is being used"))), old)  # type: ignore[arg-type]


def test_cleaning_up_takes_gone_as_done_and_keeps_going_past_a_refusal(caplog: pytest.LogCaptureFixture) -> None:
    from harness import ownership

    def network(name: str, error: BaseException) -> _Raises:
        return _Raises(error, name=name, attrs={"Labels": {ownership.RUN: "r"}})

    gone, refused = network("gone", NotFound("no")), network("stuck", REFUSED)
    client = _Raises(
        None,
        containers=_Raises(None, list=lambda **kwargs: []),
        networks=_Raises(None, list=lambda **kwargs: [gone, refused]),
    )
    assert ownership._remove_matching(client, [], keep_alive_owners=False) == []  # type: ignore[arg-type]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["could not remove network stuck"]


def test_a_site_upload_the_engine_cannot_take_is_engine_trouble_not_bad_input() -> None:
    from harness.site_lay import _upload
    from harness.target import Target as Real

    class Target:
        name = "harness-x"
        upload = Real.upload  # the real boundary, over an SDK container that raises

        def __init__(self, error: BaseException) -> None:
            self._wrapped = _Raises(error)

    with pytest.raises(EngineUnavailable) as caught:
        _upload(Target(DOWN), "/", b"")  # type: ignore[arg-type]
    _one_line_harness_error(caught, EngineUnavailable)
    with pytest.raises(InvalidInput, match="could not upload the site into harness-x"):
        _upload(Target(REFUSED), "/", b"")  # type: ignore[arg-type]
    with pytest.raises(ZeroDivisionError):  # harness's own bug is not the site's fault
        _upload(Target(ZeroDivisionError()), "/", b"")  # type: ignore[arg-type]


def test_the_cli_says_in_one_line_that_no_engine_answers(tmp_path: Any) -> None:
    for argv in (["check", "web"], ["init", str(tmp_path / "site"), "--from", "web"]):
        done = run_harness(*argv, DOCKER_HOST=f"unix://{tmp_path}/no.sock", timeout=60)
        assert done.returncode == 3, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"harness: no Docker engine answers at unix://{tmp_path}/no.sock; {engine.START_HINT}"
        ]


@pytest.mark.parametrize("module", ["harness.cli", "harness.scenario", "harness.target", "harness.pytest_plugin"])
def test_start_up_does_not_import_the_docker_sdk(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "heavy = ('docker', 'requests', 'testcontainers', 'paramiko', 'opentelemetry')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
