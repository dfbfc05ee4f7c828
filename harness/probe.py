"""Black-box probing of port 80, as monitoring sees it.

A probe makes one fresh HTTP GET per sample and classifies what came back.
"ok" means our nginx served our page: the page carries a marker and the
response says it came from nginx, so anything else answering on port 80 is
"not-our-server", never ok. A Monitor samples on a fixed cadence in the
background and lets the drill wait for streaks of good or bad samples.
"""

from __future__ import annotations

import bisect
import re
import ssl
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from harness.signals import background, quiet

if TYPE_CHECKING:
    import requests

    from harness.footprint import Pacer

PAGE_MARKER = "harness-target-page-v1"
USER_AGENT = "harness-probe"  # what the probe says it is; the doctor replays its requests with it
APP_MARKER = '"service": "harness-app"'


@dataclass(frozen=True)
class Check:
    """One URL a sample fetches, relative to the target's base URL, and what its body must contain."""

    path: str
    marker: str
    # True: the marker is harness's own page, so a page without it is someone else's server.
    # False: a text a user asked for (check --expect); nginx serving a page without it is "missing-text".
    own_page: bool = True
    # A team's site (--site): what the healthy server answers this request, as recorded or configured.
    host: str = ""  # the Host header ("" : the address itself)
    scheme: str = "http"
    status: int = 200
    location: str = ""  # the Location header starts with this (a redirect)
    closed: bool = False  # the healthy answer is a closed connection (return 444)
    regex: str = ""  # the body matches this
    headers: tuple[tuple[str, str], ...] = ()
    # The Server header's product as the healthy server sent it ("nginx"; "" for none: server_tokens and
    # proxy_pass_header vary it, and modules clear it), so a site that hides it is still recognised.
    server: str = "nginx"
    why: str = ""  # where the expectation comes from (file:line, the settings, the healthy answer)

    @property
    def port(self) -> int:
        return 443 if self.scheme == "https" else 80

    @property
    def plain(self) -> bool:
        """harness's own page check: a 200 with the marker (the classic classification applies)."""
        return (
            self.status == 200
            and self.server == "nginx"
            and not (self.location or self.closed or self.regex or self.headers or self.host)
        )

    def label(self) -> str:
        host = f"{self.host}" if self.host else ""
        return f"{self.scheme.upper() if self.scheme == 'https' else 'GET'} {host}/{self.path}"

    def expectation(self) -> str:
        """What the healthy server answers this request, in words."""
        if self.closed:
            return "the connection closed without an answer (return 444)"
        said = f"HTTP {self.status}"
        if self.location:
            said += f" to {self.location}"
        if self.marker:
            said += f" with {self.marker[:40]!r}"
        if self.regex:
            said += f" matching {self.regex!r}"
        for name, value in self.headers:
            said += f", {name}: {value}"
        return said

    def judge(self, status: int, server: str, body: str, headers: dict[str, str]) -> tuple[Outcome, str]:
        """A response against what the healthy server answers here."""
        if self.plain and self.scheme != "https":
            return classify_response(status, server, body, self.marker, self.own_page)
        if self.closed:
            return Outcome.NOT_OUR_SERVER, f"HTTP {status} where the healthy server closes the connection"
        if status != self.status:
            if 500 <= status <= 599:
                return Outcome.HTTP_5XX, f"HTTP {status} (the healthy server answers {self.status})"
            if 400 <= status <= 499:
                return Outcome.HTTP_4XX, f"HTTP {status} (the healthy server answers {self.status})"
            return Outcome.NOT_OUR_SERVER, f"HTTP {status} (the healthy server answers {self.status})"
        lowered = {k.lower(): v for k, v in headers.items()}
        if self.location and not lowered.get("location", "").startswith(self.location):
            return Outcome.NOT_OUR_SERVER, f"HTTP {status} to {lowered.get('location', 'nowhere')}, not {self.location}"
        for name, value in self.headers:
            if lowered.get(name.lower()) != value:
                return Outcome.MISSING_TEXT, f"HTTP {status} with {name}: {lowered.get(name.lower())!r}, not {value!r}"
        if self.marker and self.marker not in body:
            return Outcome.MISSING_TEXT, f"HTTP {status} without the healthy page's text {self.marker[:40]!r}"
        if self.regex and not re.search(self.regex, body):
            return Outcome.MISSING_TEXT, f"HTTP {status} whose body does not match {self.regex!r}"
        if product(server) != self.server:
            # The page is served, but by what another program would send: the healthy server's Server header differs.
            sent = f"Server: {server}" if server else "no Server header"
            healthy = f"Server: {self.server}" if self.server else "no Server header"
            return Outcome.NOT_OUR_SERVER, f"HTTP {status} with {sent}, where the healthy server sends {healthy}"
        return Outcome.OK, f"HTTP {status} as the healthy server answers"


def product(server: str) -> str:
    """A Server header's product, the part that names the program ("nginx/1.24.0 (Ubuntu)" -> "nginx")."""
    return server.strip().split("/", 1)[0].split(" ", 1)[0].lower()


# The site's page, then the application nginx proxies: a 502 from the app is an outage too.
DEFAULT_CHECKS = (Check("", PAGE_MARKER), Check("app/", APP_MARKER))


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    HTTP_4XX = "http-4xx"
    HTTP_5XX = "http-5xx"
    NOT_OUR_SERVER = "not-our-server"
    MISSING_TEXT = "missing-text"  # nginx answered 200, but without the text the user expects


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # time.monotonic() when the request was sent
    outcome: Outcome
    status: int | None
    latency: float
    detail: str
    path: str = "/"  # the request's path (the first failing check's, for a failing sample)
    host: str = ""  # its Host header, when a site's probe names one
    port: int = 80  # the port it reached inside the server (443 for https)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def classify_response(
    status: int, server_header: str, body: str, marker: str = PAGE_MARKER, own_page: bool = True
) -> tuple[Outcome, str]:
    if 500 <= status <= 599:
        return Outcome.HTTP_5XX, f"HTTP {status}"
    if 400 <= status <= 499:
        return Outcome.HTTP_4XX, f"HTTP {status}"
    if status == 200 and marker in body and server_header.lower().startswith("nginx"):
        return Outcome.OK, "HTTP 200, expected page from nginx"
    server = server_header or "no Server header"
    if status != 200:  # a redirect, or any other answer that is not the page
        return Outcome.NOT_OUR_SERVER, f"HTTP {status} instead of the page ({server})"
    if not own_page and status == 200 and marker not in body and server_header.lower().startswith("nginx"):
        return Outcome.MISSING_TEXT, f"HTTP 200 from nginx, but the page lacks {marker!r}"
    if marker not in body:
        return Outcome.NOT_OUR_SERVER, f"HTTP {status} without the expected page ({server})"
    return Outcome.NOT_OUR_SERVER, f"HTTP {status} with the page but not from nginx ({server})"


def _request_errors() -> tuple[type[BaseException], ...]:
    import http.client  # on first use, as requests (which loads it anyway): `harness list` never sends a request

    import requests

    return (requests.RequestException, OSError, http.client.HTTPException)


def _root_cause(exc: BaseException) -> BaseException:
    import urllib3

    current, visited = exc, {id(exc)}
    while True:
        nxt = current.__context__ or current.__cause__
        if isinstance(current, urllib3.exceptions.MaxRetryError) and current.reason is not None:
            nxt = current.reason
        if nxt is None or id(nxt) in visited:  # exception chains can loop
            return current
        visited.add(id(nxt))
        current = nxt


def classify_error(exc: BaseException) -> tuple[Outcome, str]:
    """Map a failed request to a symptom.

    Behind Docker's port proxy a port with no listener accepts and then closes,
    so a reset or an empty reply means the same as a refused connection. A
    reply that came but could not be read (a body that does not decode, a
    broken chunk, a malformed header) was served: it is not a refusal, whatever
    its exception derives from (every requests error is an OSError).
    """
    import http.client

    import requests
    import urllib3

    if isinstance(exc, requests.Timeout):
        return Outcome.TIMEOUT, "no answer before the probe timeout"
    if not isinstance(exc, (requests.RequestException, OSError, http.client.HTTPException)):
        raise exc
    root = _root_cause(exc)
    if isinstance(root, ConnectionRefusedError):
        return Outcome.REFUSED, "connection refused"
    if isinstance(root, (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        return Outcome.REFUSED, "connection reset (nothing listening behind the published port)"
    if isinstance(root, (TimeoutError, urllib3.exceptions.TimeoutError)):
        return Outcome.TIMEOUT, "no answer before the probe timeout"
    unreadable = (
        requests.exceptions.ContentDecodingError,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.InvalidHeader,
        urllib3.exceptions.DecodeError,
        urllib3.exceptions.ProtocolError,
        http.client.HTTPException,
    )
    if isinstance(exc, unreadable) or isinstance(root, unreadable):
        return Outcome.NOT_OUR_SERVER, f"a reply that could not be read ({type(exc).__name__}: {str(root)[:120]})"
    if isinstance(exc, (requests.ConnectionError, OSError)):
        return Outcome.REFUSED, f"connection failed: {type(root).__name__}"
    raise exc


_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """One client context for every https probe: urllib3 would build one per connection and load the system's CA
    store into it (about 20 ms of CPU each, even with verification off), which made a TLS site's probe cost
    30 times a plain one. Verification stays off: a throwaway server's certificate is self-signed."""
    global _TLS
    if _TLS is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _TLS = context
    return _TLS


class Probe:
    """One sample: a fresh connection per check, as an external monitor makes; the first failing check wins."""

    def __init__(
        self,
        url: str,
        timeout: float = 1.0,
        checks: tuple[Check, ...] = DEFAULT_CHECKS,
        tls_url: str = "",
        pacer: Pacer | None = None,
    ) -> None:
        if not checks:
            raise ValueError("a probe needs at least one check")
        self.url = url
        self.tls_url = tls_url  # the published 443, for https checks
        self.timeout = timeout
        self.checks = checks
        self.pacer = pacer  # the site's limits, shared by every probe of one target (harness.footprint)
        import requests
        from requests.adapters import HTTPAdapter

        class _Adapter(HTTPAdapter):
            def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
                kwargs["ssl_context"] = _tls_context()
                super().init_poolmanager(*args, **kwargs)

        self._session = requests.Session()
        self._session.mount("https://", _Adapter())
        # Never route a probe through a proxy from the environment: test traffic
        # must only go to the target's published port.
        self._session.trust_env = False
        self._session.headers["Connection"] = "close"
        self._session.headers["User-Agent"] = USER_AGENT

    def sample(self) -> Sample:
        sent = time.monotonic()
        result = None
        for check in self.checks:
            result = self._fetch(check, sent)
            if not result.ok:
                return result
        assert result is not None
        if len(self.checks) == 1:
            return result
        if all(c.plain for c in self.checks):
            paths = " and ".join(f"/{c.path}" for c in self.checks)
            return Sample(sent, result.outcome, result.status, result.latency, f"HTTP 200 for {paths}, served by nginx")
        said = f"{len(self.checks)} requests answered as the healthy server answers them"
        return Sample(sent, result.outcome, result.status, result.latency, said)

    def cycle(self) -> float:
        """The least time one sample takes once spaced within the site's limits (0: no limit counts it)."""
        if self.pacer is None:
            return 0.0
        return self.pacer.cycle((c.host, f"/{c.path}", c.port) for c in self.checks)

    def _fetch(self, check: Check, sent: float) -> Sample:
        where = f"GET /{check.path}: " if check.path and check.plain else "" if check.plain else f"{check.label()}: "
        path = f"/{check.path}"
        with self._paced(check):
            began = time.monotonic()  # the latency is the server's, not the wait for the site's limits
            try:
                response = self.get(check)
                outcome, detail = check.judge(
                    response.status_code, response.headers.get("Server", ""), response.text, dict(response.headers)
                )
                took = time.monotonic() - began
                return Sample(sent, outcome, response.status_code, took, where + detail, path, check.host, check.port)
            except _request_errors() as exc:
                outcome, detail = classify_error(exc)
                took = time.monotonic() - began
                if check.closed and outcome is Outcome.REFUSED:
                    said = where + "closed, as configured"
                    return Sample(sent, Outcome.OK, None, took, said, path, check.host, check.port)
                return Sample(sent, outcome, None, took, where + detail, path, check.host, check.port)

    def _paced(self, check: Check) -> AbstractContextManager[float]:
        if self.pacer is None:
            return nullcontext(0.0)
        return self.pacer.request(check.host, f"/{check.path}", check.port)

    def fetch(self, check: Check) -> requests.Response:
        """One request as CHECK describes it, within the site's limits (as every request harness sends a site)."""
        with self._paced(check):
            return self.get(check)

    def get(self, check: Check) -> requests.Response:
        """One request as CHECK describes it (scheme, Host, path), never following a redirect."""
        base = self.tls_url if check.scheme == "https" else self.url
        headers = {"Host": check.host} if check.host else None
        import urllib3

        with warnings.catch_warnings():
            # Self-signed certificates are the point of a throwaway TLS server; say nothing of them.
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            return self._session.get(
                base + check.path, timeout=self.timeout, allow_redirects=False, headers=headers, verify=False
            )

    def clone(self) -> Probe:
        """Another probe like this one, with its own connection (for a sample sent while this one waits)."""
        return Probe(self.url, self.timeout, self.checks, self.tls_url, self.pacer)

    def close(self) -> None:
        self._session.close()


@dataclass(frozen=True)
class Streak:
    """K consecutive samples that agree (all ok, or all failing)."""

    samples: tuple[Sample, ...]

    @property
    def first(self) -> Sample:
        return self.samples[0]

    @property
    def outcome(self) -> Outcome:
        """The most frequent outcome in the streak, e.g. the symptom a failing streak shows."""
        return Counter(s.outcome for s in self.samples).most_common(1)[0][0]


def find_streak(samples: list[Sample], healthy: bool, k: int, since: float) -> Streak | None:
    run: list[Sample] = []
    for sample in samples:
        if sample.t < since:
            continue
        if sample.ok == healthy:
            run.append(sample)
            if len(run) == k:
                return Streak(tuple(run))
        else:
            run = []
    return None


def ok_for(samples: list[Sample], since: float) -> float:
    """How long the newest samples sent at or after `since` have all been ok, in seconds (0 if the last failed)."""
    start = None
    for sample in reversed(samples):
        if sample.t < since or not sample.ok:
            break
        start = sample.t
    return 0.0 if start is None else samples[-1].t - start


class Monitor:
    """Samples a probe on a fixed cadence in the background, like real monitoring.

    A sample is sent every interval even while earlier ones still wait for an
    answer (a hung server holds each for the probe timeout): monitoring keeps
    its cadence, so three timeouts in a row take one timeout and two
    intervals, not three timeouts. Each sample in flight has its own
    connection and its own Probe. A streak is never judged over a gap: a
    failing streak only over the samples sent before the oldest one still in
    flight (the first failure is never missed), a good streak over every
    answered sample with each one still in flight counted as a failure (so a
    sample held by a blackhole just before a repair does not hold the recovery
    back for the probe timeout). Once stopped, the monitor records nothing
    more and does not wait for the samples still in flight.
    """

    # Samples in flight at once, at most: a 1 s timeout at a 50 ms cadence needs 20 (plus one of each kind of check).
    MAX_IN_FLIGHT = 32

    def __init__(self, probe: Probe, interval: float) -> None:
        self.probe = probe
        # Never faster than the site's own limits allow one client (harness.footprint): a sample the site turns
        # away for harness's own pace would measure harness, not the site.
        self.interval = max(interval, probe.cycle())
        self._samples: list[Sample] = []
        self._pending: list[float] = []  # send times of samples in flight
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._paused = 0  # bursts running (see paused)
        self._thread: threading.Thread | None = None
        self._idle: list[Probe] = [probe]  # a Probe per sample in flight: a requests Session is not thread-safe
        # Threads are reused: while the server answers, one does all the work.
        from concurrent.futures import ThreadPoolExecutor  # here: `harness list` starts no monitor

        self._pool = ThreadPoolExecutor(self.MAX_IN_FLIGHT, thread_name_prefix="harness-sample", initializer=quiet)

    def __enter__(self) -> Monitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = background(self._run, name="harness-monitor")  # its sample threads inherit its quiet
        self._thread.start()

    def halt(self) -> None:
        """Stop sampling and wake every waiter now, without waiting for the thread (safe from any thread)."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        # An interrupt can land between creating the thread and starting it.
        if self._thread is not None and self._thread.ident is not None:
            self._thread.join(timeout=self.interval + 1.0)
        # A sample in flight ends by itself within the probe timeout and closes its own probe (see _sample).
        self._pool.shutdown(wait=False)
        with self._changed:
            idle, self._idle = self._idle, []
        for probe in idle:
            probe.close()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No samples while harness's own load burst runs: the burst is measured apart, so a sample queued behind
        harness's own crowd (behind the same port proxy) never reads as the server failing. Samples already in
        flight finish first (within the probe timeout)."""
        limit = time.monotonic() + self.probe.timeout + self.interval
        with self._changed:
            self._paused += 1
            while self._pending and not self._stop.is_set() and time.monotonic() < limit:
                self._changed.wait(0.05)
        try:
            yield
        finally:
            with self._changed:
                self._paused -= 1
                self._changed.notify_all()

    def _probe(self) -> Probe:
        with self._changed:
            if self._idle:
                return self._idle.pop()
        return self.probe.clone()

    def _sample(self, probe: Probe, sent: float) -> None:
        sample = None
        try:
            if not self._stop.is_set():  # one queued before the stop has nothing to send
                sample = probe.sample()
        finally:
            # One step: no waiter may see this sample's slot empty and not yet filled.
            with self._changed:
                self._pending.remove(sent)
                stopped = self._stop.is_set()
                if not stopped:
                    self._idle.append(probe)
                    if sample is not None:
                        bisect.insort(self._samples, sample, key=lambda s: s.t)
                self._changed.notify_all()
            if stopped:
                probe.close()

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            with self._changed:
                while (len(self._pending) >= self.MAX_IN_FLIGHT or self._paused) and not self._stop.is_set():
                    if self._paused:
                        due = time.monotonic()  # the cadence resumes after the pause, without catching up
                    self._changed.wait(0.05)
                if self._stop.is_set():
                    return
                sent = time.monotonic()
                self._pending.append(sent)
            probe = self._probe()
            try:
                self._pool.submit(self._sample, probe, sent)
            except RuntimeError:  # stopped meanwhile: the pool takes no more
                with self._changed:
                    self._pending.remove(sent)
                probe.close()
                return
            due += self.interval
            delay = due - time.monotonic()
            if delay < 0:
                due = time.monotonic()  # a slow cycle: skip the missed slots rather than burst
                delay = 0
            self._stop.wait(delay)

    @property
    def samples(self) -> list[Sample]:
        """Every sample answered so far, in the order sent."""
        with self._changed:
            return list(self._samples)

    def _judged(self, healthy: bool) -> list[Sample]:
        """What a streak is judged over (call with the lock held): for a failing streak, the samples sent before
        the oldest one still in flight; for a good one, every sample, each one still in flight as a failure."""
        if not self._pending:
            return self._samples
        if healthy:
            unknown = (Sample(t, Outcome.TIMEOUT, None, 0.0, "still in flight") for t in self._pending)
            return sorted((*self._samples, *unknown), key=lambda s: s.t)
        oldest = min(self._pending)
        return [s for s in self._samples if s.t < oldest]

    def wait_for_failure(self, k: int, since: float, quiet: float, timeout: float) -> Streak | None:
        """A K-long failing streak sent at or after `since`, or None once the probe has stayed ok.

        "Stayed ok" means the newest samples have been ok for `quiet` seconds in
        a row: the fault, if any, does not show to a single client. None also
        when the deadline passes with neither (a flapping target).
        """
        return self.wait_for_streak(False, k, since, timeout, quiet=quiet)

    def failing_since(self, streak: Streak, floor: float) -> Sample:
        """The first sample of the unbroken failing run that STREAK belongs to, no earlier than FLOOR."""
        samples = self.samples
        index = next(i for i, s in enumerate(samples) if s is streak.first)
        while index > 0 and not samples[index - 1].ok and samples[index - 1].t >= floor:
            index -= 1
        return samples[index]

    def wait_for_streak(
        self, healthy: bool, k: int, since: float, timeout: float, quiet: float | None = None
    ) -> Streak | None:
        """The first K-long streak of healthy (or failing) samples sent at or after `since`.

        None when the deadline passes first (the caller says what was awaited),
        or, given `quiet`, once the newest samples have been ok that long.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                settled = self._judged(healthy)
                streak = find_streak(settled, healthy, k, since)
                if streak is not None:
                    return streak
                if quiet is not None and ok_for(settled, since) >= quiet:
                    return None
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return None
                self._changed.wait(min(left, 0.5))
