"""Load mode: many concurrent clients, to find faults a single GET never shows.

Some outages only bite under concurrency (a file-descriptor limit far below
worker_connections, say): one probe request works, a burst of users does
not. A burst is N requests from C concurrent clients, each a fresh HTTP/1.1
connection, checked the same way the probe checks a sample. It runs on
asyncio streams, so 100 clients cost one thread and no extra dependency.

A burst runs in a process of its own. In harness's process its event loop
shares one interpreter lock with the monitor's sample threads, the doctor's
parsing and, under `--jobs`, other drills and their bursts; a client held
off the lock for its timeout reads as a server that did not answer, so the
verdict depended on what else harness ran at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.errors import HarnessError
from harness.probe import PAGE_MARKER, Check, Outcome

# Below this failed fraction a burst counts as served: a healthy target fails none.
DEGRADED_THRESHOLD = 0.005


@dataclass(frozen=True)
class LoadReport:
    requests: int  # requests that finished (fewer than planned when the burst stopped early)
    concurrency: int
    outcomes: dict[Outcome, int]
    duration: float
    planned: int = 0  # requests the burst was to send (0: as many as finished)

    @property
    def failed(self) -> int:
        return self.requests - self.outcomes.get(Outcome.OK, 0)

    @property
    def failed_fraction(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    @property
    def degraded(self) -> bool:
        return self.failed_fraction >= DEGRADED_THRESHOLD

    @property
    def stopped_early(self) -> bool:
        return self.planned > self.requests

    def describe(self) -> str:
        counts = ", ".join(f"{o.value} {n}" for o, n in sorted(self.outcomes.items(), key=lambda kv: -kv[1]))
        said = (
            f"{self.failed}/{self.requests} requests failed ({self.failed_fraction:.1%}) "
            f"with {self.concurrency} concurrent clients in {self.duration:.2f} s: {counts}"
        )
        if self.stopped_early:
            said += f" (stopped before {self.planned}: enough had failed to fail the burst whatever followed)"
        return said


def failures_that_decide(requests: int) -> int:
    """How many failed requests make a burst of REQUESTS degraded whatever the rest do."""
    return max(1, math.ceil(DEGRADED_THRESHOLD * requests))


async def _one(host: str, port: int, path: str, timeout: float, check: Check) -> Outcome:
    name = check.host or host
    request = f"GET {path} HTTP/1.1\r\nHost: {name}\r\nUser-Agent: harness-load\r\nConnection: close\r\n\r\n"
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request.encode())
            await writer.drain()
            raw = await reader.read()
    except TimeoutError:
        return Outcome.TIMEOUT
    except OSError:
        return Outcome.OK if check.closed else Outcome.REFUSED
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                # Closed within the loop: a transport left to the garbage collector complains after it ends.
                await writer.wait_closed()
    return classify_reply(raw, check)


def classify_reply(raw: bytes, check: Check | str) -> Outcome:
    if isinstance(check, str):
        check = Check("", check)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not re.fullmatch(r"[0-9]{3}", parts[1]):
        # The proxy accepted, then closed without a response (or the server closed it, as `return 444` does).
        return Outcome.OK if check.closed else Outcome.REFUSED
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    headers = {k.strip(): v.strip() for k, v in fields.items()}
    server = next((v for k, v in headers.items() if k.lower() == "server"), "")
    outcome, _ = check.judge(int(parts[1]), server, body.decode(errors="replace"), headers)
    return outcome


async def _burst(
    host: str, port: int, path: str, requests: int, concurrency: int, timeout: float, check: Check
) -> list[Outcome]:
    """The outcomes of REQUESTS requests; fewer once enough have failed that the verdict cannot change.

    A fault that makes requests hang would otherwise hold each client for its
    full timeout, request after request: seconds spent proving what is proven.
    """
    queue = iter(range(requests))
    results: list[Outcome] = []
    decide = failures_that_decide(requests)
    decided = asyncio.Event()

    async def client() -> None:
        for _ in queue:  # the shared iterator hands each request to exactly one client
            if decided.is_set():
                return
            outcome = await _one(host, port, path, timeout, check)
            results.append(outcome)
            if outcome is not Outcome.OK and sum(o is not Outcome.OK for o in results) >= decide:
                decided.set()

    clients = [asyncio.ensure_future(client()) for _ in range(concurrency)]
    finished: asyncio.Future[list[object]] = asyncio.gather(*clients, return_exceptions=True)
    waiting = asyncio.ensure_future(decided.wait())
    either: list[asyncio.Future[Any]] = [finished, waiting]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if decided.is_set():
        for task in clients:  # requests still in flight would only wait out their timeouts
            task.cancel()
    await finished
    waiting.cancel()
    return results


def burst(
    url: str,
    requests: int = 2000,
    concurrency: int = 100,
    timeout: float = 2.0,
    marker: str = PAGE_MARKER,
    check: Check | None = None,
    isolated: bool = True,
) -> LoadReport:
    """Send REQUESTS GETs to URL from CONCURRENCY clients at once and count the outcomes.

    Each reply is judged as the probe judges it: by CHECK (a site's recorded answer), or by MARKER.
    """
    check = check or Check("", marker)
    if requests < 1 or concurrency < 1:
        raise ValueError("a burst needs at least one request and one client")
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ValueError(f"load mode needs an http://host:port/ URL, not {url!r}")
    order = {
        "host": parts.hostname,
        "port": parts.port,
        "path": parts.path or "/",
        "requests": requests,
        "concurrency": min(concurrency, requests),
        "timeout": timeout,
        "check": dataclasses.asdict(check),
    }
    counts, took = _in_own_process(order) if isolated else _run(order)
    finished = sum(counts.values())
    return LoadReport(finished, min(concurrency, requests), counts, took, planned=requests)


def _run(order: dict[str, Any]) -> tuple[dict[Outcome, int], float]:
    fields = dict(order["check"])
    fields["headers"] = tuple(tuple(pair) for pair in fields.get("headers", ()))
    check = Check(**fields)
    started = time.monotonic()
    outcomes = asyncio.run(
        _burst(order["host"], order["port"], order["path"], order["requests"], order["concurrency"],
               order["timeout"], check)
    )  # fmt: skip
    return dict(Counter(outcomes)), time.monotonic() - started


def _in_own_process(order: dict[str, Any]) -> tuple[dict[Outcome, int], float]:
    """The burst in a child interpreter (see the module's docstring), its outcomes read back as JSON."""
    # Past this the child is stuck, not slow: every request has a timeout, and the clients share the work.
    bound = order["timeout"] * (order["requests"] / order["concurrency"] + 2) + 30
    done = subprocess.run(
        [sys.executable, "-m", "harness.load"],
        input=json.dumps(order),
        capture_output=True,
        text=True,
        timeout=bound,
        check=False,
    )
    if done.returncode != 0:
        raise HarnessError(f"the load burst's process exited {done.returncode}: {done.stderr.strip()[-500:]}")
    reply = json.loads(done.stdout)
    return {Outcome(name): count for name, count in reply["outcomes"].items()}, float(reply["took"])


def _child() -> None:
    counts, took = _run(json.load(sys.stdin))
    json.dump({"outcomes": {o.value: n for o, n in counts.items()}, "took": took}, sys.stdout)


if __name__ == "__main__":
    _child()
