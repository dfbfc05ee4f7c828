"""The connection to the Docker engine, and the Testcontainers settings that go with it."""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

import requests
from docker.errors import DockerException, ImageNotFound
from testcontainers.core.config import testcontainers_config

import docker
from harness.errors import EngineUnavailable

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


def connect(timeout: float = 60.0) -> docker.DockerClient:
    """A client for the engine in DOCKER_HOST (or the local socket), checked to answer."""
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except (DockerException, requests.RequestException, OSError) as exc:
        raise EngineUnavailable(f"no Docker engine answers at {engine_address()}; {START_HINT}") from exc
    return client


def configure_reaper(client: docker.DockerClient) -> bool:
    """Disable Ryuk where its image is absent; return whether Ryuk stays on.

    Without a registry Ryuk's image cannot be pulled and Testcontainers would
    fail every start trying. harness does not rely on Ryuk anyway: its own
    labels, context managers and orphan sweep clean up.
    """
    if os.environ.get("TESTCONTAINERS_RYUK_DISABLED"):
        return not testcontainers_config.ryuk_disabled
    try:
        client.images.get(testcontainers_config.ryuk_image)
    except ImageNotFound:
        log.debug("Ryuk image %s absent: Ryuk disabled", testcontainers_config.ryuk_image)
        testcontainers_config.ryuk_disabled = True
        return False
    except (DockerException, requests.RequestException) as exc:
        raise EngineUnavailable(f"the Docker engine at {engine_address()} stopped answering: {brief(exc)}") from exc
    return not testcontainers_config.ryuk_disabled
