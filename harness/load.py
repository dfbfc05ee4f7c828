"""Load mode: many concurrent clients, to find faults a single GET never shows.

Some outages only bite under concurrency (a file-descriptor limit far below
worker_connections, say): one probe request works, a burst of users does
not. A burst is N requests from C concurrent clients, each a fresh HTTP/1.1
connection, checked the same way the probe checks a sample. It runs on
asyncio streams, so 100 clients cost one thread and no extra dependency.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.facts import number
from harness.probe import PAGE_MARKER, Check, Outcome

# Below this failed fraction a burst counts as served: a healthy target fails none.
DEGRADED_THRESHOLD = 0.005


@dataclass(frozen=True)
class LoadReport:
    requests: int
    concurrency: int
    outcomes: dict[Outcome, int]
    duration: float

    @property
    def failed(self) -> int:
        return self.requests - self.outcomes.get(Outcome.OK, 0)

    @property
    def failed_fraction(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    @property
    def degraded(self) -> bool:
        return self.failed_fraction >= DEGRADED_THRESHOLD

    def describe(self) -> str:
        counts = ", ".join(f"{o.value} {n}" for o, n in sorted(self.outcomes.items(), key=lambda kv: -kv[1]))
        return (
            f"{self.failed}/{self.requests} requests failed ({self.failed_fraction:.1%}) "
            f"with {self.concurrency} concurrent clients in {self.duration:.2f} s: {counts}"
        )


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
    return classify_reply(raw, check)


def classify_reply(raw: bytes, check: Check | str) -> Outcome:
    if isinstance(check, str):
        check = Check("", check)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or number(parts[1]) is None:
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
    queue = iter(range(requests))
    results: list[Outcome] = []

    async def client() -> None:
        for _ in queue:  # the shared iterator hands each request to exactly one client
            results.append(await _one(host, port, path, timeout, check))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return results


def burst(
    url: str,
    requests: int = 2000,
    concurrency: int = 100,
    timeout: float = 2.0,
    marker: str = PAGE_MARKER,
    check: Check | None = None,
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
    started = time.monotonic()
    outcomes = asyncio.run(
        _burst(parts.hostname, parts.port, parts.path or "/", requests, min(concurrency, requests), timeout, check)
    )
    return LoadReport(requests, min(concurrency, requests), dict(Counter(outcomes)), time.monotonic() - started)
