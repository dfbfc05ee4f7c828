"""The probe's classification, against real sockets on loopback (no Docker)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.probe import (
    APP_MARKER,
    PAGE_MARKER,
    Check,
    Monitor,
    Outcome,
    Probe,
    Sample,
    classify_response,
    find_streak,
    ok_for,
)

PAGE = f"<html><!-- {PAGE_MARKER} --></html>".encode()
SITE_ONLY = (Check("", PAGE_MARKER),)


class _Handler(BaseHTTPRequestHandler):
    status = 200
    body = PAGE
    server_header = "nginx/1.22.1"

    def version_string(self) -> str:
        return self.server_header

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


_SERVERS: list[ThreadingHTTPServer] = []


@pytest.fixture
def http_server() -> Iterator[Callable[..., str]]:
    servers = _SERVERS

    def start(status: int = 200, body: bytes = PAGE, server: str = "nginx/1.22.1") -> str:
        handler = type("H", (_Handler,), {"status": status, "body": body, "server_header": server})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
    servers.clear()


@pytest.mark.parametrize(
    ("status", "body", "server", "expected"),
    [
        (200, PAGE, "nginx/1.24.0", Outcome.OK),
        (200, PAGE, "SimpleHTTP/0.6 Python/3.11", Outcome.NOT_OUR_SERVER),
        (200, b"<html>Welcome to nginx!</html>", "nginx/1.24.0", Outcome.NOT_OUR_SERVER),
        (404, b"not found", "nginx", Outcome.HTTP_4XX),
        (403, b"forbidden", "nginx", Outcome.HTTP_4XX),
        (502, b"bad gateway", "nginx", Outcome.HTTP_5XX),
    ],
)
def test_http_answers_are_classified(http_server, status, body, server, expected) -> None:  # type: ignore[no-untyped-def]
    sample = Probe(http_server(status, body, server), timeout=2, checks=SITE_ONLY).sample()
    assert sample.outcome is expected, sample.detail
    assert sample.status == status


def test_closed_port_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        assert Probe(f"http://127.0.0.1:{port}/", timeout=2).sample().outcome is Outcome.REFUSED


@contextmanager
def _raw_server(behaviour: str) -> Iterator[str]:
    """A listener that closes every connection at once ("close") or never answers ("hold")."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def run() -> None:
        held = []
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if behaviour == "close":
                conn.close()  # what Docker's port proxy does when nothing listens inside
            else:
                held.append(conn)  # a hung server: accept, never answer

    threading.Thread(target=run, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        listener.close()


def test_accept_then_close_counts_as_refused() -> None:
    with _raw_server("close") as url:
        sample = Probe(url, timeout=2, checks=SITE_ONLY).sample()
    assert sample.outcome is Outcome.REFUSED
    assert "reset" in sample.detail or "refused" in sample.detail


def test_silent_server_times_out_and_is_not_refused() -> None:
    with _raw_server("hold") as url:
        sample = Probe(url, timeout=0.3, checks=SITE_ONLY).sample()
    assert sample.outcome is Outcome.TIMEOUT
    assert 0.25 < sample.latency < 2


def test_marker_and_server_header_both_needed() -> None:
    assert classify_response(200, "nginx", PAGE_MARKER)[0] is Outcome.OK
    assert classify_response(200, "", PAGE_MARKER)[0] is Outcome.NOT_OUR_SERVER
    assert classify_response(301, "nginx", "")[0] is Outcome.NOT_OUR_SERVER


def _samples(pattern: str) -> list[Sample]:
    codes = {"o": Outcome.OK, "r": Outcome.REFUSED, "t": Outcome.TIMEOUT}
    return [Sample(float(i), codes[c], None, 0.0, "") for i, c in enumerate(pattern)]


def test_streak_needs_k_in_a_row_after_since() -> None:
    samples = _samples("oooorrorrrooo")
    bad = find_streak(samples, healthy=False, k=3, since=0)
    assert bad is not None and bad.first.t == 7.0
    good = find_streak(samples, healthy=True, k=3, since=bad.first.t)
    assert good is not None and good.first.t == 10.0
    assert find_streak(samples, healthy=False, k=4, since=0) is None


def test_streak_outcome_is_the_most_common_failure() -> None:
    streak = find_streak(_samples("rtt"), healthy=False, k=3, since=0)
    assert streak is not None and streak.outcome is Outcome.TIMEOUT


class _ScriptedProbe(Probe):
    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__("http://127.0.0.1:9/", timeout=0.1)
        self.outcomes = outcomes

    def sample(self) -> Sample:
        outcome = self.outcomes.pop(0) if self.outcomes else Outcome.OK
        return Sample(time.monotonic(), outcome, None, 0.0, "scripted")

    def clone(self) -> _ScriptedProbe:
        """The monitor's probe for a second sample in flight (a loaded machine): the same script."""
        twin = _ScriptedProbe([])
        twin.outcomes = self.outcomes
        return twin


def test_monitor_waits_for_a_streak_and_gives_up_at_its_deadline() -> None:
    probe = _ScriptedProbe([Outcome.OK, Outcome.REFUSED, Outcome.REFUSED, Outcome.REFUSED])
    with Monitor(probe, interval=0.01) as monitor:
        bad = monitor.wait_for_streak(False, 3, since=0, timeout=2)
        assert bad is not None and bad.outcome is Outcome.REFUSED
        assert monitor.wait_for_streak(False, 50, since=bad.first.t + 1e-9, timeout=0.2) is None


def test_ok_for_measures_the_newest_unbroken_ok_run() -> None:
    samples = _samples("rroooo")
    assert ok_for(samples, since=0) == 3.0
    assert ok_for(samples, since=4) == 1.0
    assert ok_for(_samples("ooor"), since=0) == 0.0


def test_a_failure_that_lasts_is_dated_from_its_first_failing_sample() -> None:
    # Failures during the injection (t < 3) only count when they run on into the outage.
    probe = _ScriptedProbe([Outcome.OK, Outcome.REFUSED, Outcome.REFUSED, Outcome.REFUSED, Outcome.REFUSED])
    with Monitor(probe, interval=0.01) as monitor:
        bad = monitor.wait_for_streak(False, 3, since=0, timeout=2)
        assert bad is not None
        samples = monitor.samples
        later = monitor.wait_for_failure(2, since=samples[3].t, quiet=5, timeout=2)
        assert later is not None and later.first is samples[3]
        assert monitor.failing_since(later, floor=0) is samples[1]
        assert monitor.failing_since(later, floor=samples[2].t) is samples[2]


def test_waiting_for_a_failure_gives_up_once_the_probe_stays_ok() -> None:
    with Monitor(_ScriptedProbe([]), interval=0.01) as monitor:
        started = time.monotonic()
        assert monitor.wait_for_failure(3, since=0, quiet=0.2, timeout=10) is None
        assert time.monotonic() - started < 5, "it waited for the deadline instead of the quiet period"


class _SiteWithApp(_Handler):
    app_status = 502

    def do_GET(self) -> None:
        if self.path.startswith("/app/"):
            body = b"{" + APP_MARKER.encode() + b"}" if self.app_status == 200 else b"bad gateway"
            self.send_response(self.app_status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()


@pytest.mark.parametrize(("app_status", "expected"), [(200, Outcome.OK), (502, Outcome.HTTP_5XX)])
def test_the_app_behind_nginx_is_checked_too(app_status: int, expected: Outcome) -> None:
    handler = type("Handler", (_SiteWithApp,), {"app_status": app_status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sample = Probe(f"http://127.0.0.1:{server.server_address[1]}/", timeout=2).sample()
    finally:
        server.shutdown()
        server.server_close()
    assert sample.outcome is expected, sample.detail
    if expected is not Outcome.OK:
        assert sample.detail == "GET /app/: HTTP 502"


class _HeldProbe(_ScriptedProbe):
    """Every sample is ok, except the second, which hangs until released and then times out (a blackhole)."""

    def __init__(self, release: threading.Event, counter: list[int], returned: threading.Event) -> None:
        super().__init__([])
        self.release, self.counter, self.returned = release, counter, returned

    def sample(self) -> Sample:
        sent = time.monotonic()
        self.counter.append(1)
        if len(self.counter) == 2:
            self.release.wait(5)
            self.returned.set()
            return Sample(sent, Outcome.TIMEOUT, None, 5.0, "held")
        return Sample(sent, Outcome.OK, 200, 0.0, "ok")

    def clone(self) -> _HeldProbe:
        return _HeldProbe(self.release, self.counter, self.returned)


def test_a_good_streak_is_not_held_back_by_an_earlier_sample_still_in_flight_nor_is_the_stop() -> None:
    release, counter, returned = threading.Event(), [], threading.Event()
    monitor = Monitor(_HeldProbe(release, counter, returned), interval=0.01)
    monitor.start()
    try:
        started = time.monotonic()
        good = monitor.wait_for_streak(True, 3, since=started + 0.015, timeout=3)
        # Found while the held sample still hangs: not behind it, however slow a loaded machine runs the rest.
        assert good is not None and not returned.is_set()
        assert all(s.ok for s in good.samples)
        # A failing streak is still judged only over settled samples: none can start behind the held one.
        assert monitor.wait_for_streak(False, 1, since=0, timeout=0.1) is None
        monitor.stop()
        assert not returned.is_set()  # the stop did not wait for the held sample, which ends on its own
        recorded = len(monitor.samples)
    finally:
        release.set()
    time.sleep(0.1)
    assert len(monitor.samples) == recorded  # nothing is recorded after the stop
    assert not any(s.detail == "held" for s in monitor.samples)


class _Garbled(_Handler):
    """A reply whose body says it is gzip and is not: the client cannot decode what was served."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", "20")
        self.end_headers()
        self.wfile.write(b"this is not gzip....")


def test_a_reply_the_client_cannot_decode_is_served_not_refused() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Garbled)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        sample = Probe(f"http://127.0.0.1:{httpd.server_address[1]}/", timeout=2, checks=SITE_ONLY).sample()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert sample.outcome is Outcome.NOT_OUR_SERVER, sample.detail
    assert "could not be read (ContentDecodingError" in sample.detail


@pytest.mark.parametrize(
    ("healthy", "sent", "expected"),
    [
        ("", "", Outcome.OK),  # headers cleared by a module: the healthy server sends none either
        ("apache", "Apache/2.4.57 (Debian)", Outcome.OK),  # proxy_pass_header Server: the app's name passes through
        ("nginx", "nginx", Outcome.OK),  # server_tokens off
        ("", "SimpleHTTP/0.6 Python/3.11", Outcome.NOT_OUR_SERVER),  # another program, where none said its name
        ("nginx", "", Outcome.NOT_OUR_SERVER),
    ],
)
def test_our_server_is_the_one_that_says_what_the_healthy_server_said(
    http_server: Callable[..., str], healthy: str, sent: str, expected: Outcome
) -> None:
    check = Check("", "the page", own_page=False, host="site.example", server=healthy)
    sample = Probe(http_server(200, b"<p>the page</p>", sent), timeout=2, checks=(check,)).sample()
    assert sample.outcome is expected, sample.detail
    if expected is not Outcome.OK:
        # The page was served: the message says by whom, never that it was not served.
        assert "where the healthy server sends" in sample.detail and "without" not in sample.detail


def _tls_server(tmp_path: Path, http_server: Callable[..., str]) -> str:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=site.example", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    url = http_server(200, b"<p>secure</p>", "nginx")
    port = int(url.rsplit(":", 1)[1].strip("/"))
    httpd = next(s for s in _SERVERS if s.server_address[1] == port)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    return f"https://127.0.0.1:{port}/"


def test_an_https_probe_loads_no_certificate_store_per_sample(
    tmp_path: Path, http_server: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh TLS connection per sample, as monitoring makes, without urllib3's fresh context per connection
    (which loads the system's CA store: 20 ms of CPU a sample, enough to starve a load burst on a TLS site)."""
    tls_url = _tls_server(tmp_path, http_server)
    loaded: list[object] = []
    original = ssl.SSLContext.load_default_certs

    def counted(self: ssl.SSLContext, *args: object) -> None:
        loaded.append(args)
        original(self, *args)  # type: ignore[arg-type]

    def paths(self: ssl.SSLContext) -> None:
        loaded.append("paths")

    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", counted)
    monkeypatch.setattr(ssl.SSLContext, "set_default_verify_paths", paths)
    check = Check("", "secure", own_page=False, host="site.example", scheme="https")
    probe = Probe("http://127.0.0.1:9/", timeout=2, checks=(check,), tls_url=tls_url)
    samples = [probe.sample() for _ in range(3)]
    assert all(s.ok for s in samples), samples[0].detail
    assert loaded == []


def test_no_sample_is_sent_while_harness_runs_its_own_burst(http_server: Callable[..., str]) -> None:
    """A burst is measured apart: a sample queued behind harness's own crowd would measure harness."""
    with Monitor(Probe(http_server(), timeout=2, checks=SITE_ONLY), 0.01) as monitor:
        assert monitor.wait_for_streak(True, 3, since=0.0, timeout=10.0) is not None
        with monitor.paused():
            began = time.monotonic()
            time.sleep(0.3)
            ended = time.monotonic()
        assert monitor.wait_for_streak(True, 3, since=ended, timeout=10.0) is not None  # and it resumes
    assert not [s for s in monitor.samples if began <= s.t < ended]
