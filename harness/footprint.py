"""harness's own footprint on a site: its probes and bursts stay inside the site's own limits.

A site's `limit_req` and `limit_conn` count what one client sends. Behind
Docker's published port every request harness makes arrives from one
address (the bridge's gateway), so whatever the zone's key, harness is one
client to it, and a probe that samples faster than the zone's rate is
turned away by the site doing its job. harness therefore reads the limits
from the configuration model and spaces its own requests: each zone sees at
most half its rate from harness (and never two requests closer than one
period plus a margin, for a zone with no burst), and at most half its
connections at once. A load burst only goes to a page that no limit covers.

Why spacing rather than a source the key does not count: the source address
is not ours to choose behind the port proxy, and a header that a `map` or
`geo` exempts would change the request being measured. Spacing follows from
rate and burst alone, so it holds for keys harness cannot evaluate.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from harness.confmodel import ConfigModel, Directive, Location, Server, Where

# harness takes at most this share of what a zone allows one client; the rest absorbs jitter and real users.
SHARE = 0.5
# With no burst, nginx refuses a request that arrives less than one period after the last: this much more, at least.
JITTER = 0.05


@dataclass(frozen=True)
class Zone:
    name: str
    kind: str  # "req" (limit_req_zone) or "conn" (limit_conn_zone)
    key: str
    rate: float  # requests per second one key may send (req zones)
    where: Where

    def rate_text(self) -> str:
        per_minute = self.rate * 60
        return f"{self.rate:g}r/s" if self.rate >= 1 else f"{per_minute:g}r/m"


@dataclass(frozen=True)
class Limit:
    """One limit_req or limit_conn line that applies where a request lands, with its zone."""

    zone: Zone
    where: Where
    burst: int = 0  # limit_req burst=
    connections: int = 0  # limit_conn's number

    def describe(self) -> str:
        if self.zone.kind == "req":
            said = f"limit_req zone={self.zone.name} ({self.zone.rate_text()}, burst {self.burst}, key {self.zone.key})"
        else:
            said = f"limit_conn {self.zone.name} {self.connections} (key {self.zone.key})"
        return f"{said} at {self.where}"

    @property
    def gap(self) -> float:
        """The least time between two of harness's requests this limit counts."""
        if self.zone.kind != "req" or self.zone.rate <= 0:
            return 0.0
        period = 1.0 / self.zone.rate
        spaced = period / SHARE
        return spaced if self.burst else max(spaced, period + JITTER)

    @property
    def concurrent(self) -> int:
        """How many of harness's requests it counts may be open at once (0: no bound)."""
        if self.zone.kind != "conn":
            return 0
        return max(1, int(self.connections * SHARE))


_RATE = re.compile(r"rate=([0-9]+)r/([sm])")


def zones(model: ConfigModel) -> dict[str, Zone]:
    """Every limit_req_zone and limit_conn_zone of the http context, by name."""
    found: dict[str, Zone] = {}
    for directive in model.http:
        kind = {"limit_req_zone": "req", "limit_conn_zone": "conn"}.get(directive.name)
        if kind is None or not directive.args:
            continue
        key = directive.args[0]
        name = next((a[5:].split(":", 1)[0] for a in directive.args if a.startswith("zone=")), "")
        rate = 0.0
        for arg in directive.args:
            matched = _RATE.fullmatch(arg)
            if matched:
                rate = int(matched.group(1)) / (1 if matched.group(2) == "s" else 60)
        if name:
            found[name] = Zone(name, kind, key, rate, directive.where)
    return found


def _chain(locations: tuple[Location, ...], target: Location) -> list[Location] | None:
    """The locations from the outermost to TARGET (nested locations inherit from their parents)."""
    for location in locations:
        if location is target:
            return [location]
        inner = _chain(location.locations, target)
        if inner is not None:
            return [location, *inner]
    return None


def _innermost(model: ConfigModel, server: Server, location: Location | None, name: str) -> list[Directive]:
    """NAME where a request lands, as nginx inherits arrays: the innermost level that has any."""
    chain = (_chain(server.locations, location) or []) if location is not None else []
    levels = [*(loc.directives for loc in reversed(chain)), server.directives, model.http]
    for level in levels:
        found = [d for d in level if d.name == name and d.args]
        if found:
            return found
    return []


def _reached(model: ConfigModel, server: Server, path: str) -> list[Location | None]:
    """The location PATH lands in, and those nginx may redirect it to inside (try_files, index): a limit in any
    of them may count the request."""
    from harness.semantics import choose_location, index_names

    seen: list[Location | None] = []
    todo: list[tuple[Location | None, str]] = [(choose_location(server, path), path)]
    while todo and len(seen) < 8:
        location, uri = todo.pop(0)
        if any(location is s for s in seen):
            continue
        seen.append(location)
        tried = location.get("try_files") if location is not None else None
        if tried is not None and tried.args:
            last = tried.args[-1]
            if last.startswith("@"):
                named = next((loc for loc in server.locations if loc.modifier == "@" and loc.path == last), None)
                if named is not None:
                    todo.append((named, uri))
            elif last.startswith("/"):
                target = last.split("?", 1)[0].split("$", 1)[0] or "/"
                todo.append((choose_location(server, target), target))
        if uri.endswith("/"):
            for index in index_names(server, location, model):
                if "$" not in index:
                    target = index if index.startswith("/") else uri + index
                    todo.append((choose_location(server, target), target))
    return seen


def limits_for(model: ConfigModel, host: str, path: str, port: int) -> tuple[Limit, ...]:
    """The limits that count a request for PATH with HOST on PORT, as the configuration says."""
    from harness.semantics import Request, choose_server

    known = zones(model)
    if not known:
        return ()
    server = choose_server(model, Request(path, host, port))
    if server is None:
        return ()
    found: list[Limit] = []
    for location in _reached(model, server, path):
        for name in ("limit_req", "limit_conn"):
            for directive in _innermost(model, server, location, name):
                limit = _limit(directive, known)
                if limit is not None and limit not in found:
                    found.append(limit)
    return tuple(found)


def _limit(directive: Directive, known: dict[str, Zone]) -> Limit | None:
    args = directive.args
    if directive.name == "limit_req":
        zone = known.get(next((a[5:] for a in args if a.startswith("zone=")), ""))
        burst = next((int(a[6:]) for a in args if a.startswith("burst=") and a[6:].isdigit()), 0)
        return Limit(zone, directive.where, burst=burst) if zone is not None else None
    zone = known.get(args[0])
    count = int(args[1]) if len(args) > 1 and args[1].isdigit() else 1
    return Limit(zone, directive.where, connections=count) if zone is not None else None


class Pacer:
    """Spaces harness's requests to a site so that each of its limits sees harness as one polite client.

    One per target, shared by every probe of it (the monitor's samples, the
    recording of healthy answers, the wait for the target to serve), since
    the site counts them all as one client.
    """

    def __init__(self, model: ConfigModel | None) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}  # zone name -> the earliest time harness may send it another request
        self._open: dict[str, threading.BoundedSemaphore] = {}
        self._limits: dict[tuple[str, str, int], tuple[Limit, ...]] = {}

    def limits(self, host: str, path: str, port: int) -> tuple[Limit, ...]:
        if self.model is None:
            return ()
        key = (host, path, port)
        with self._lock:
            if key not in self._limits:
                self._limits[key] = limits_for(self.model, host, path, port)
            return self._limits[key]

    def cycle(self, requests: Iterable[tuple[str, str, int]]) -> float:
        """The least time one sample of REQUESTS (host, path, port) takes when spaced: its busiest zone's share."""
        per_zone: dict[str, list[float]] = {}
        for host, path, port in requests:
            for limit in self.limits(host, path, port):
                per_zone.setdefault(limit.zone.name, []).append(limit.gap)
        return max((sum(gaps) for gaps in per_zone.values()), default=0.0)

    @contextmanager
    def request(self, host: str, path: str, port: int) -> Iterator[float]:
        """Wait until the limits that count this request allow it, hold its connection slots, yield the wait."""
        limits = self.limits(host, path, port)
        if not limits:
            yield 0.0
            return
        now = time.monotonic()
        with self._lock:
            spaced = [lim for lim in limits if lim.gap]
            start = max([now, *(self._next.get(lim.zone.name, 0.0) for lim in spaced)])
            for limit in spaced:
                self._next[limit.zone.name] = max(self._next.get(limit.zone.name, 0.0), start + limit.gap)
            slots = []
            for limit in sorted((lim for lim in limits if lim.concurrent), key=lambda lim: lim.zone.name):
                slots.append(self._open.setdefault(limit.zone.name, threading.BoundedSemaphore(limit.concurrent)))
        if start > now:
            time.sleep(start - now)
        with ExitStack() as held:
            for slot in slots:  # in zone order: two requests never wait on each other's slots
                slot.acquire()
                held.callback(slot.release)
            yield start - now
