"""Cause units: one registered piece of knowledge per root cause, built-in or a plugin's.

A unit has its id, the rule that recognises it, its remedy (optional: without
one the drill ends with the unit's advice), the area a game-day hint points
at, the corrective measures a postmortem suggests, and optionally lines of
its own for the collection script and notes that set misleading signals
aside. Built-in units are registered in the `harness.causes` entry-point
group exactly as third-party ones are, and validated when they load; a broken
unit is named with its package. Nothing else in harness lists causes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from harness.errors import PluginError
from harness.plugins import OWN_DISTRIBUTION, distribution, load_group, plugin_error

if TYPE_CHECKING:
    from harness.changes import Changes
    from harness.command import ExecResult
    from harness.confmodel import Server
    from harness.facts import Facts
    from harness.target import Target
    from harness.trace import Step, Trace

GROUP = "harness.causes"
_KEBAB = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_SECTION = re.compile(r"^s ([a-z0-9][a-z0-9-]*);", re.MULTILINE)

# Where a responder looks, in the order game-day hints reveal them.
AREAS = {
    "process": "the nginx process and its service",
    "config": "nginx's configuration and enabled sites",
    "port": "who holds the port, and the firewall",
    "files": "the files nginx serves",
    "resources": "nginx's limits under load",
    "upstream": "what nginx proxies to",
}


@dataclass(frozen=True)
class Finding:
    """A rule's verdict: the cause fits, in these words, with this evidence."""

    summary: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """Everything a rule may read: the facts, the traces of failing requests, what changed, what was measured."""

    facts: Facts
    traces: tuple[Trace, ...] = ()
    changes: Changes = field(default_factory=lambda: _no_changes())
    measured: tuple[str, ...] = ()
    baseline: Facts | None = None  # the healthy examination before the fault, when there was one

    def lost_servers(self) -> list[tuple[Trace, Server]]:
        """Failing requests whose server at the healthy check no longer answers them: (trace, that server).

        With several virtual hosts, a site taken away does not refuse its requests: another server answers them.
        """
        if self.baseline is None:
            return []
        from harness.semantics import choose_server

        found = []
        for item in self.traces:
            before = choose_server(self.baseline.config, item.request)
            now = choose_server(self.facts.config, item.request)
            if before is not None and (now is None or (now.where, now.names) != (before.where, before.names)):
                found.append((item, before))
        return found

    def broken(self, *what: str) -> tuple[tuple[Trace, Step], ...]:
        """(trace, its first broken step) for every trace broken at one of WHAT (any step when none given)."""
        found = []
        for trace in self.traces:
            step = trace.broken
            if step is not None and (not what or step.what in what):
                found.append((trace, step))
        return tuple(found)


def _no_changes() -> Changes:
    from harness.changes import Changes  # here: loading the registry (harness list) costs no config parser

    return Changes()


HEALTHY = "healthy"
UNKNOWN = "unknown"
# The outage was measured (the probe or a load burst failed) and no unit explains it. Never "healthy".
UNEXPLAINED = "unexplained"


@dataclass(frozen=True)
class Observation:
    """One line of evidence with the area a responder would look in (game-day hints group by it)."""

    area: str
    text: str


@dataclass(frozen=True)
class Diagnosis:
    """The doctor's answer: a cause, in words, with the evidence, and the context every rule and remedy read."""

    cause: str
    summary: str
    evidence: tuple[str, ...]
    # What the rules read: the facts, the traces, what changed, what was measured, the healthy baseline.
    context: Context = field(compare=False, repr=False)
    # Alarming things the doctor saw and set aside, with the reason: the misleading paths.
    ruled_out: tuple[str, ...] = ()
    also: tuple[str, ...] = ()  # other causes that fit too, in the order tried
    observed: tuple[Observation, ...] = ()

    @property
    def facts(self) -> Facts:
        return self.context.facts

    @property
    def traces(self) -> tuple[Trace, ...]:
        return self.context.traces

    @property
    def changes(self) -> Changes:
        return self.context.changes

    @property
    def measured(self) -> tuple[str, ...]:
        """Failures measured from outside that the diagnosis had to account for (the probe's, a load burst's)."""
        return self.context.measured

    @property
    def healthy(self) -> bool:
        return self.cause == HEALTHY

    @property
    def broken_step(self) -> str:
        """The first broken step of the first failing request's trace, in a few words ("" when none broke)."""
        for item in self.traces:
            step = item.broken
            if step is not None:
                return f"{step.what}: {step.detail}" + (f" ({step.where})" if step.where else "")
        return ""


Rule = Callable[[Context], Finding | None]
Remedy = Callable[["Target", "Diagnosis"], list["ExecResult"]]
SetAside = Callable[[Context, str], list[str]]


@dataclass(frozen=True)
class Cause:
    id: str
    rule: Rule
    order: int  # lower is tried first: a rule may assume the ones before it did not fit
    area: str  # a key of AREAS
    measures: tuple[str, ...]  # corrective and preventative measures for a postmortem
    remedy: Remedy | None = None
    advice: str = ""  # what to do by hand when there is no remedy (or it cannot act)
    collect: str = ""  # shell lines for the collection script: `s NAME; command` sections, a constant
    set_aside: SetAside | None = None  # alarming signals this unit can rule out for another cause
    # Failures that happen only when a request arrives: (regex of nginx's error-log words, the directive that governs
    # them). When no rule fits, a line about the doctor's own request that matches names this unit's cause.
    log_patterns: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Registry:
    causes: tuple[Cause, ...]
    broken: tuple[PluginError, ...] = ()

    def get(self, cause: str) -> Cause | None:
        return next((c for c in self.causes if c.id == cause), None)

    def collect_lines(self) -> str:
        return "".join(c.collect.rstrip("\n") + "\n" for c in self.causes if c.collect)


# How the doctor calls each hook of a unit: checked when the unit loads, as pluggy checks a hook implementation
# against its specification, so a wrong signature is named then rather than failing inside a diagnosis.
_CALLED_WITH = {"rule": ("ctx",), "remedy": ("target", "diagnosis"), "set_aside": ("ctx", "cause")}


def _check_signature(hook: str, function: object) -> None:
    if not callable(function):
        raise ValueError(f"its {hook} must be a callable")
    arguments = _CALLED_WITH[hook]
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # a builtin without a signature: nothing to check
    try:
        signature.bind(*arguments)
    except TypeError as exc:
        raise ValueError(
            f"its {hook} {getattr(function, '__name__', function)!s}{signature} cannot be called as "
            f"{hook}({', '.join(arguments)}): {exc}"
        ) from None


def validate(unit: object, entry_name: str) -> Cause:
    if not isinstance(unit, Cause):
        raise ValueError(f"{unit!r} is not a harness.causes.Cause")
    if unit.id != entry_name:
        raise ValueError(f"its id {unit.id!r} differs from its entry-point name {entry_name!r}")
    if not _KEBAB.fullmatch(unit.id):
        raise ValueError(f"id {unit.id!r} is not a kebab-case id such as 'site-not-enabled'")
    for hook in _CALLED_WITH:
        if getattr(unit, hook) is not None or hook == "rule":
            _check_signature(hook, getattr(unit, hook))
    if unit.area not in AREAS:
        raise ValueError(f"area {unit.area!r} is not one of: {', '.join(AREAS)}")
    if not isinstance(unit.order, int) or not unit.measures or not all(isinstance(m, str) for m in unit.measures):
        raise ValueError("it needs an integer order and at least one corrective measure")
    if unit.collect and not _SECTION.search(unit.collect):
        raise ValueError("its collect lines must be sections written as `s NAME; command`")
    if "s end" in unit.collect:
        raise ValueError("its collect lines may not end the collection script")
    for pattern, directive in unit.log_patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"its log pattern {pattern!r} ({directive}) is not a regular expression: {exc}") from exc
    return unit


def load_registry(entries: list[EntryPoint] | None = None) -> Registry:
    entries = entries if entries is not None else list(entry_points(group=GROUP))
    found, broken = load_group(GROUP, validate, "cause unit", entries)
    origin = {entry.name: distribution(entry) for entry in entries}
    units: dict[int, Cause] = {}
    # Units are tried in order and a rule may assume the ones before it did not fit, so two units sharing an order
    # would be tried in an order nobody chose. The one shipped with harness keeps it; otherwise the first by id.
    ours = sorted(found.values(), key=lambda c: (not origin[c.id].startswith(f"{OWN_DISTRIBUTION} "), c.id))
    for unit in ours:
        holder = units.get(unit.order)
        if holder is None:
            units[unit.order] = unit
            continue
        reason = (
            f"its order {unit.order} is already that of cause unit {holder.id!r} from {origin[holder.id]}; "
            "give it an order no other unit has (`harness list --causes` shows them)"
        )
        broken.append(plugin_error("cause unit", unit.id, origin[unit.id], reason))
    return Registry(tuple(sorted(units.values(), key=lambda c: c.order)), tuple(broken))


@cache
def registry() -> Registry:
    """The installed units, loaded once per process."""
    return load_registry()
