"""Load mode against real loopback servers (no Docker): it counts what a crowd of clients gets."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load import burst, classify_reply
from harness.probe import PAGE_MARKER, Check, Outcome

PAGE = f"<html><!-- {PAGE_MARKER} --></html>".encode()


class _Server(ThreadingHTTPServer):
    # The listen backlog is set when the server binds, from the class: set on the instance afterwards (as this
    # test once did) it left Python's default of 5, and a loaded machine then dropped some of 30 clients' connections.
    request_queue_size = 256


@contextmanager
def server(fail_every: int = 0) -> Iterator[str]:
    """An nginx look-alike on loopback; every FAIL_EVERY-th request gets a 500, as EMFILE gives."""
    counter = itertools.count(1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def version_string(self) -> str:
            return "nginx/1.22.1"

        def do_GET(self) -> None:
            failing = fail_every and next(counter) % fail_every == 0
            body = b"boom" if failing else PAGE
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_healthy_server_serves_the_whole_burst() -> None:
    with server() as url:
        report = burst(url, requests=300, concurrency=30)
    # What a user reads: the burst was served (fewer failures than fail it) and ran to the end, said in one line.
    assert not report.degraded and not report.stopped_early, report.describe()
    assert report.requests == 300 and report.outcomes.get(Outcome.OK, 0) >= 299
    assert report.describe().startswith(f"{report.failed}/300 requests failed (")
    assert "with 30 concurrent clients" in report.describe()


def test_a_few_percent_of_failures_is_degraded() -> None:
    with server(fail_every=50) as url:
        report = burst(url, requests=300, concurrency=30)
    # 2 failures of 300 (0.5 %) fail the burst whatever the rest do: it stops there instead of sending them.
    assert report.degraded and report.stopped_early and report.planned == 300
    assert report.failed >= 2 and set(report.outcomes) == {Outcome.OK, Outcome.HTTP_5XX}
    assert report.requests < 300 and "stopped before 300" in report.describe()


def test_nothing_listening_fails_every_request() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = burst(f"http://127.0.0.1:{port}/", requests=20, concurrency=5)
    assert set(report.outcomes) == {Outcome.REFUSED} and report.failed_fraction == 1.0
    assert report.stopped_early


@pytest.mark.parametrize("url", ["https://127.0.0.1:1/", "http://127.0.0.1/", "not a url"])
def test_a_url_load_mode_cannot_use_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="load mode needs an http://host:port/ URL"):
        burst(url, requests=1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=80).map(lambda t: f"HTTP/1.1 {t}\r\n\r\n".encode()))
def test_any_reply_is_classified(raw: bytes) -> None:
    assert isinstance(classify_reply(raw, PAGE_MARKER), Outcome)


@contextmanager
def _page_in_own_process(tmp_path: Path) -> Iterator[str]:
    """nginx's stand-in in a process of its own, so that what this process does cannot slow it."""
    (tmp_path / "index.html").write_bytes(PAGE)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = (
        "import functools, http.server, sys\n"
        "http.server.ThreadingHTTPServer.request_queue_size = 256\n"
        "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])\n"
        "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), handler).serve_forever()\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", serve, str(port), str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait()


def test_a_burst_is_not_starved_by_what_else_harness_runs(tmp_path: Path) -> None:
    """Drills under --jobs share one interpreter: threads that hold its lock (other drills' samples, the doctor's
    parsing) must not turn a healthy server's answers into client-side timeouts."""
    check = Check("", PAGE_MARKER, server="simplehttp")
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(10_000))

    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.2)  # each busy thread keeps the lock 200 ms at a time, as a long parse would
    spinners = [threading.Thread(target=busy, daemon=True) for _ in range(4)]
    try:
        with _page_in_own_process(tmp_path) as url:
            for spinner in spinners:
                spinner.start()
            report = burst(url, requests=100, concurrency=20, timeout=2.0, check=check)
    finally:
        stop.set()
        sys.setswitchinterval(switch)
        for spinner in spinners:
            spinner.join()
    assert not report.degraded, report.describe()
