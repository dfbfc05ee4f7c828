"""`harness check`: the post-deployment validation of any running nginx container, read-only.

It probes port 80 from outside through the container's published port (on
this machine's loopback only) and runs the doctor's checks inside. Nothing is
written, restarted or injected: the server may be someone's real one.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.command import ExecResult
from harness.confmodel import ConfigModel, parse_tree
from harness.doctor import Diagnosis, Request, examine
from harness.engine import Trouble, boundary
from harness.errors import EngineUnavailable, InvalidInput
from harness.ownership import MANAGED
from harness.probe import DEFAULT_CHECKS, Check, Outcome, Probe, Sample, classify_error
from harness.site import ProbeSpec, Site, derive_probes, probes_for
from harness.target import DEFAULT_EXEC_TIMEOUT, HTTP_PORT, exec_in

if TYPE_CHECKING:
    import docker

LOOPBACK = "127.0.0.1"
HTTPS_PORT = 443
MAX_NAMES = 20
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

    def published_url(self, port: int = HTTP_PORT) -> tuple[str | None, str]:
        """The loopback URL of PORT (80, or 443 over https), or None and why there is none we may probe."""
        scheme = "https" if port == HTTPS_PORT else "http"
        bindings = (self._container.ports or {}).get(f"{port}/tcp") or []
        for binding in bindings:
            if binding.get("HostIp") in ("127.0.0.1", "0.0.0.0", "", "::"):
                return f"{scheme}://{LOOPBACK}:{binding['HostPort']}/", ""
        if bindings:
            return None, f"port {port} is published only on {bindings[0].get('HostIp')}, not on this machine's loopback"
        return None, f"port {port} is not published to this machine"

    def configuration(self) -> ConfigModel | None:
        """/etc/nginx as nginx reads it, parsed here; None when it cannot be read."""
        result = self.exec(["sh", "-c", "tar -C / -cf - etc/nginx 2>/dev/null | base64"])
        try:
            return parse_tree(base64.b64decode("".join(result.stdout.split()))) if result.ok else None
        except ValueError:
            return None


@dataclass(frozen=True)
class CheckReport:
    container: str
    url: str | None
    skipped_probe: str  # why there was no outside probe, if there was none
    samples: tuple[Sample, ...]
    diagnosis: Diagnosis
    # What was asked and could not be checked (--expect without a published port): never a pass.
    unchecked: str = ""
    # Answers the configuration asks for that a plain check would call faults (a catch-all's 444), with file:line.
    by_design: tuple[str, ...] = ()

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


def check_server(
    server: ExistingServer,
    expect: str | None = None,
    probe_timeout: float = 1.0,
    hosts: tuple[str, ...] = (),
    site: Site | None = None,
) -> CheckReport:
    """Probe the server a few times from outside, then examine it from inside.

    What is probed: harness's own page on its own targets; with --site, the probes derived from the tree as a
    drill derives them; with --host, `/` on each name; otherwise `/` on every server_name the running
    configuration names (a request with no Host header is what a catch-all answers, not the site).
    """
    url, why = server.published_url()
    tls_url, _ = server.published_url(HTTPS_PORT)
    samples: list[Sample] = []
    by_design: list[str] = []
    skipped: list[str] = []
    if url is not None:
        # Our own targets carry our page and app; on any other server, any page from nginx will do unless told.
        if server.ours and expect is None and not hosts and site is None:
            checks: tuple[Check, ...] = DEFAULT_CHECKS
        else:
            specs = _specs(server, hosts, site)
            checks = tuple(_check_of(spec, expect) for spec in specs if not (spec.scheme == "https" and not tls_url))
            skipped = [f"{spec.label()}: port 443 is not published" for spec in specs if spec.scheme == "https"
                       and not tls_url]  # fmt: skip
            by_design = [f"{spec.label()} closes the connection, as configured ({spec.why}): by design"
                         for spec in specs if spec.closed]  # fmt: skip
            checks = checks or (Check("", expect or "", own_page=False),)
        from harness.footprint import Pacer  # a site's own limit_req / limit_conn: the samples stay within them

        pacer = Pacer(site.model) if site is not None else None
        probe = Probe(url, timeout=probe_timeout, checks=checks, tls_url=tls_url or "", pacer=pacer)
        try:
            samples = [_sample(probe, check) for _ in range(SAMPLES) for check in checks]
        finally:
            probe.close()
    failing = tuple(dict.fromkeys(f"the probe: {s.detail}" for s in samples if not s.ok))
    requests = tuple(
        dict.fromkeys(Request(s.path, s.host, s.port, symptom=s.outcome.value) for s in samples if not s.ok)
    )
    unchecked = f"--expect {expect!r} could not be checked: {why}" if expect is not None and url is None else ""
    diagnosis = examine(server, failing, requests)
    return CheckReport(
        server.name,
        url,
        why,
        tuple(samples),
        diagnosis,
        unchecked,
        (*by_design, *(f"not probed: {s}" for s in skipped)),
    )


def _specs(server: ExistingServer, hosts: tuple[str, ...], site: Site | None) -> list[ProbeSpec]:
    if site is not None:
        return probes_for(site)
    model = server.configuration()
    derived = derive_probes(model) if model is not None else []
    if hosts:
        named = [spec for spec in derived if spec.host in hosts and spec.path == "/"]
        return named + [ProbeSpec("/", host) for host in hosts if not any(s.host == host for s in named)]
    # Every name the configuration serves, and the catch-all as what it is; only `/`: this is a health check,
    # bounded so that a server with hundreds of names is not flooded (--host names the rest).
    return [spec for spec in derived if spec.path == "/"][:MAX_NAMES]


def _check_of(spec: ProbeSpec, expect: str | None) -> Check:
    """A check of what SPEC says the healthy server answers; with no recorded answer, any answer below 400."""
    return Check(
        spec.path.lstrip("/"),
        spec.body or expect or "",
        own_page=False,
        host=spec.host,
        scheme=spec.scheme,
        status=spec.status or 0,
        location=dict(spec.headers).get("Location", ""),
        closed=spec.closed,
        regex=spec.body_regex or "",
    )


def _sample(probe: Probe, check: Check) -> Sample:
    """One request of CHECK. Status 0 is "whatever the site answers, below 400": no healthy answer was recorded."""
    sent = time.monotonic()
    if check.status or check.closed:
        single = Probe(probe.url, probe.timeout, (check,), probe.tls_url, probe.pacer)
        try:
            return single.sample()
        finally:
            single.close()
    where = f"{check.label()}: "
    import requests

    try:
        response = probe.fetch(check)
    except (requests.RequestException, OSError) as exc:  # a symptom, not a crash
        outcome, detail = classify_error(exc)
        return Sample(sent, outcome, None, time.monotonic() - sent, where + detail, f"/{check.path}", check.host,
                      check.port)  # fmt: skip
    status = response.status_code
    took = time.monotonic() - sent
    server = response.headers.get("Server", "")
    if server and not server.lower().startswith(("nginx", "openresty")):
        # A server that names itself as another (a hidden or passed-through header names nothing, or nginx's).
        outcome, detail = Outcome.NOT_OUR_SERVER, f"HTTP {status} not from nginx ({server})"
    elif status < 400:
        outcome, detail = Outcome.OK, f"HTTP {status}"
        if check.marker and check.marker not in response.text:
            outcome, detail = Outcome.MISSING_TEXT, f"HTTP {status}: the page lacks {check.marker[:40]!r}"
    else:
        outcome = Outcome.HTTP_5XX if status >= 500 else Outcome.HTTP_4XX
        detail = f"HTTP {status}"
    return Sample(sent, outcome, status, took, where + detail, f"/{check.path}", check.host, check.port)
