"""`harness check`: the post-deployment validation of any running nginx container, read-only.

It probes port 80 from outside through the container's published port (on
this machine's loopback only) and runs the doctor's checks inside. Nothing is
written, restarted or injected: the server may be someone's real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.doctor import Diagnosis, Request, examine
from harness.engine import Trouble, boundary
from harness.errors import EngineUnavailable, InvalidInput
from harness.ownership import MANAGED
from harness.probe import DEFAULT_CHECKS, Check, Probe, Sample
from harness.target import DEFAULT_EXEC_TIMEOUT, HTTP_PORT, ExecResult, exec_in

if TYPE_CHECKING:
    import docker

LOOPBACK = "127.0.0.1"
SAMPLES = 5


class ExistingServer:
    """A running container harness may not have started: commands only, no lifecycle."""

    def __init__(self, container: Any) -> None:
        self._container = container

    @property
    def name(self) -> str:
        return str(self._container.name)

    @property
    def ours(self) -> bool:
        return (self._container.labels or {}).get(MANAGED) == "true"

    def exec(self, argv: list[str], *, timeout: float = DEFAULT_EXEC_TIMEOUT) -> ExecResult:
        def failed(exc: BaseException, doing: str) -> Exception:
            return EngineUnavailable(f"{doing} in {self.name} failed: {exc}")

        with boundary(f"running {argv[0]}", every=failed):
            return exec_in(self._container, argv, timeout=timeout)

    def archive(self, path: str) -> bytes:
        """PATH copied out of the container as a tar; InvalidInput when the container has no such path."""

        def absent(exc: BaseException, doing: str) -> Exception:
            return InvalidInput(f"{path} does not exist in the container")

        with boundary(f"copying {path} out of {self.name}", {Trouble.MISSING: absent}):
            stream, _ = self._container.get_archive(path)
            return b"".join(stream)

    def published_url(self) -> tuple[str | None, str]:
        """The loopback URL of port 80, or None and why there is none we may probe."""
        bindings = (self._container.ports or {}).get(f"{HTTP_PORT}/tcp") or []
        for binding in bindings:
            if binding.get("HostIp") in ("127.0.0.1", "0.0.0.0", "", "::"):
                return f"http://{LOOPBACK}:{binding['HostPort']}/", ""
        if bindings:
            return None, f"port 80 is published only on {bindings[0].get('HostIp')}, not on this machine's loopback"
        return None, "port 80 is not published to this machine"


@dataclass(frozen=True)
class CheckReport:
    container: str
    url: str | None
    skipped_probe: str  # why there was no outside probe, if there was none
    samples: tuple[Sample, ...]
    diagnosis: Diagnosis
    # What was asked and could not be checked (--expect without a published port): never a pass.
    unchecked: str = ""

    @property
    def probe_ok(self) -> bool | None:
        return None if not self.samples else all(s.ok for s in self.samples)

    @property
    def healthy(self) -> bool:
        return self.probe_ok is not False and self.diagnosis.healthy and not self.unchecked


def find_container(client: docker.DockerClient, name: str) -> ExistingServer:
    def silent(exc: BaseException, doing: str) -> Exception:
        return EngineUnavailable(f"the Docker engine did not answer about {name!r}: {exc}")

    def absent(exc: BaseException, doing: str) -> Exception:
        return InvalidInput(f"no container named {name!r}; `docker ps` lists the running ones")

    with boundary(f"looking up {name!r}", {Trouble.MISSING: absent}, every=silent):
        container = client.containers.get(name)
    if container.status != "running":
        raise InvalidInput(f"container {name!r} is {container.status}, not running; start it, then check it")
    return ExistingServer(container)


def check_server(server: ExistingServer, expect: str | None = None, probe_timeout: float = 1.0) -> CheckReport:
    """Probe port 80 a few times from outside, then examine the server from inside."""
    url, why = server.published_url()
    samples: list[Sample] = []
    if url is not None:
        # Our own targets carry our page and app; on any other server, any page from nginx will do unless told.
        checks = DEFAULT_CHECKS if server.ours and expect is None else (Check("", expect or "", own_page=False),)
        probe = Probe(url, timeout=probe_timeout, checks=checks)
        try:
            samples = [probe.sample() for _ in range(SAMPLES)]
        finally:
            probe.close()
    failing = tuple(dict.fromkeys(f"the probe: {s.detail}" for s in samples if not s.ok))
    requests = tuple(
        dict.fromkeys(Request(s.path, s.host, s.port, symptom=s.outcome.value) for s in samples if not s.ok)
    )
    unchecked = f"--expect {expect!r} could not be checked: {why}" if expect is not None and url is None else ""
    return CheckReport(server.name, url, why, tuple(samples), examine(server, failing, requests), unchecked)
