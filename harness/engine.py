"""The connection to the Docker engine, and the one boundary where its errors become harness's.

Every call into the Docker SDK runs inside `boundary(...)`, or inside
`tolerate(...)` where some kinds of trouble are expected and handled. Errors from docker.errors and requests are
sorted into a few kinds by one table, the way httpx maps its transport
errors, and each kind becomes a harness error: the default below, or one the
caller names for that kind. Nothing from docker.errors or requests passes
above it. The Docker SDK and Testcontainers are imported on first use, so
that commands which never reach the engine start fast.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harness.errors import EngineUnavailable, HarnessError, TargetError, TargetGone

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

START_HINT = "start one (e.g. `sudo service docker start`, or `sudo dockerd &`) or point DOCKER_HOST at one"


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


LOOPBACK = "127.0.0.1"


def published_on() -> tuple[str, str]:
    """Where targets publish port 80, and the address probes use to reach it.

    A local engine (unix socket, or TCP/SSH on loopback) publishes on loopback
    only: a deliberately broken server has no business on the LAN. A remote
    engine must publish on its own interfaces, and probes go to its host.
    """
    address = urlsplit(engine_address())
    host = address.hostname or ""
    if address.scheme in ("", "unix", "npipe") or host in ("", "localhost", LOOPBACK, "::1"):
        return LOOPBACK, LOOPBACK
    return "0.0.0.0", host


def brief(exc: BaseException) -> str:
    """What went wrong talking to the engine, in a few words rather than urllib3's retry story."""
    text = str(exc)
    where = engine_address()
    if "Connection refused" in text or isinstance(exc, ConnectionRefusedError):
        return f"connection refused at {where}"
    if "Read timed out" in text or "timed out" in text.lower():
        return f"no answer from {where} in time"
    if "No such file or directory" in text or "FileNotFoundError" in text:
        return f"no engine socket at {where}"
    if "Connection aborted" in text or "RemoteDisconnected" in text:
        return f"the connection to {where} broke"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first if len(first) <= 160 else first[:157] + "..."


class Trouble(StrEnum):
    MISSING = "missing"  # 404: no such container or image
    CONFLICT = "conflict"  # 409, or "is not running": it is stopping or being removed
    REFUSED = "refused"  # any other answer of the engine that says no
    CLIENT = "client"  # the SDK gave up before the engine answered (no socket, bad settings)
    UNAVAILABLE = "unavailable"  # the engine did not answer: refused connection, broken stream, timeout


def classify(exc: BaseException) -> Trouble | None:
    """The kind of engine trouble EXC is, or None when it is not the engine's (checked in this order)."""
    import requests
    from docker.errors import APIError, DockerException, NotFound

    if isinstance(exc, NotFound):
        return Trouble.MISSING
    if isinstance(exc, APIError):
        if exc.status_code == 409 or "is not running" in str(exc.explanation):
            return Trouble.CONFLICT
        return Trouble.REFUSED
    if isinstance(exc, DockerException):
        return Trouble.CLIENT
    if isinstance(exc, requests.RequestException | ConnectionError):
        return Trouble.UNAVAILABLE
    return None


Make = Callable[[BaseException, str], Exception]


def _explanation(exc: BaseException) -> str:
    return str(getattr(exc, "explanation", None) or exc)


def unavailable(exc: BaseException, doing: str) -> Exception:
    """The engine did not answer (or the SDK could not ask it), in one line."""
    return EngineUnavailable(f"the Docker engine stopped answering while {doing}: {brief(exc)}")


DEFAULTS: dict[Trouble, Make] = {
    Trouble.MISSING: lambda exc, doing: TargetGone(f"the target container disappeared while {doing}"),
    Trouble.CONFLICT: lambda exc, doing: TargetGone(
        f"the target container stopped or was removed while {doing}: {_explanation(exc)}"
    ),
    Trouble.REFUSED: lambda exc, doing: TargetError(f"Docker refused {doing}: {exc}"),
    Trouble.CLIENT: unavailable,
    Trouble.UNAVAILABLE: unavailable,
}


def translate(exc: BaseException, doing: str, instead: dict[Trouble, Make] | None = None) -> Exception | None:
    """The harness error for engine trouble EXC while DOING (None: EXC is not the engine's)."""
    trouble = classify(exc)
    if trouble is None:
        return None
    return ((instead or {}).get(trouble) or DEFAULTS[trouble])(exc, doing)


class boundary:
    """Engine trouble inside becomes a harness error; INSTEAD names other errors for some kinds, EVERY for all."""

    def __init__(self, doing: str, instead: dict[Trouble, Make] | None = None, every: Make | None = None) -> None:
        self.doing = doing
        self.instead: dict[Trouble, Make] = dict.fromkeys(Trouble, every) if every is not None else {}
        self.instead.update(instead or {})

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None or isinstance(exc, HarnessError) or not isinstance(exc, Exception):
            return
        mapped = translate(exc, self.doing, self.instead)
        if mapped is not None:
            raise mapped from exc


class tolerate:
    """Engine trouble of the KINDS named (all kinds when none are) is expected here: it is swallowed and kept in
    `trouble` and `error` for the caller to judge; anything else passes, to the boundary around it if any."""

    def __init__(self, *kinds: Trouble) -> None:
        self.kinds = frozenset(kinds or Trouble)
        self.trouble: Trouble | None = None
        self.error: BaseException | None = None

    def __enter__(self) -> tolerate:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        trouble = classify(exc)
        if trouble not in self.kinds:
            return False
        self.trouble, self.error = trouble, exc
        return True


def connect(timeout: float = 60.0) -> docker.DockerClient:
    """A client for the engine in DOCKER_HOST (or the local socket), checked to answer."""
    import docker

    def nobody(exc: BaseException, doing: str) -> Exception:
        return EngineUnavailable(f"no Docker engine answers at {engine_address()}; {START_HINT}")

    try:
        with boundary("connecting", every=nobody):
            client = docker.from_env(timeout=int(timeout))
            client.ping()
    except OSError as exc:
        raise nobody(exc, "connecting") from exc
    return client


def configure_reaper(client: docker.DockerClient) -> bool:
    """Disable Ryuk where its image is absent; return whether Ryuk stays on.

    Without a registry Ryuk's image cannot be pulled and Testcontainers would
    fail every start trying. harness does not rely on Ryuk anyway: its own
    labels, context managers and orphan sweep clean up.
    """
    from testcontainers.core.config import testcontainers_config

    if os.environ.get("TESTCONTAINERS_RYUK_DISABLED"):
        return not testcontainers_config.ryuk_disabled
    with boundary("looking for the Ryuk image", every=unavailable), tolerate(Trouble.MISSING) as absent:
        client.images.get(testcontainers_config.ryuk_image)
    if absent.trouble is not None:
        log.debug("Ryuk image %s absent: Ryuk disabled", testcontainers_config.ryuk_image)
        testcontainers_config.ryuk_disabled = True
        return False
    return not testcontainers_config.ryuk_disabled
