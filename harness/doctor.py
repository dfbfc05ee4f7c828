"""White-box diagnosis: name the root cause from inside the target, blind.

The doctor is never told which scenario ran. It gathers Facts in one round
trip, walks every check so its evidence shows what it looked at (a decoy in
the logs does not stop it), and the first rule (harness.rules) that fits
names the cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.errors import TargetError
from harness.facts import COLLECT_SCRIPT, Facts, parse_facts
from harness.rules import HEALTHY, RULES, set_aside
from harness.target import ExecResult

__all__ = ["HEALTHY", "UNEXPLAINED", "UNKNOWN", "Diagnosis", "diagnose", "examine", "observations"]

UNKNOWN = "unknown"
# The outage was measured (the probe or a load burst failed) and no rule explains it. Never "healthy".
UNEXPLAINED = "unexplained"
DOCTOR_TIMEOUT = 20.0


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    summary: str
    evidence: tuple[str, ...]
    facts: Facts
    # Alarming things the doctor saw and set aside, with the reason: the misleading paths.
    ruled_out: tuple[str, ...] = ()
    # Failures measured from outside that the diagnosis had to account for (the probe's, a load burst's).
    measured: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.cause == HEALTHY


def observations(facts: Facts) -> list[str]:
    """One line per check, in the order a responder would look."""
    lines = []
    master = facts.nginx_master
    if master is None:
        stale = f", pid file names dead pid {facts.pidfile}" if facts.stale_pidfile else ""
        lines.append(f"nginx master process: not running{stale}")
    else:
        state = "stopped (SIGSTOP), not scheduled" if master.stopped else "running"
        lines.append(f"nginx master process: {state} (pid {master.pid})")
    lines.append(f"service nginx status: {'running' if facts.service_running else 'not running'}")
    config = facts.config_output.splitlines()
    lines.append("nginx -t: passes" if facts.config_ok else f"nginx -t: fails: {config[0] if config else '?'}")
    on_80 = facts.listeners_on(80)
    if on_80:
        owners = sorted({p for item in on_80 for p in item.processes}) or ["unknown process"]
        lines.append(f"port 80: listened on by {', '.join(owners)}")
    else:
        lines.append("port 80: nothing listens")
    lines.append(f"sites-available: {', '.join(facts.available) or 'empty'}")
    enabled = [
        f"{e.name} -> {e.link_target}{'' if e.target_exists else ' (dangling)'}"
        if e.kind == "link"
        else f"{e.name} ({e.kind})"
        for e in facts.enabled
    ]
    lines.append(f"sites-enabled: {', '.join(enabled) or 'empty'}")
    for root in facts.docroots:
        state = "missing" if not root.exists else "readable" if root.worker_can_read else "not readable"
        index = ", ".join(root.index_files) or "no index file"
        lines.append(f"document root {root.path}: {state} by {root.worker_user}; {index}")
    limit = "unlimited or unknown" if facts.open_files_limit is None else str(facts.open_files_limit)
    lines.append(f"open files limit of nginx: {limit} (worker_connections {facts.worker_connections or '?'})")
    if facts.firewall_readable:
        lines.append(f"firewall INPUT rules: {'; '.join(facts.firewall_rules) or 'none'}")
    else:
        lines.append("firewall INPUT rules: not readable here")
    if facts.local_status:
        lines.append("inside the server: " + ", ".join(f"{url} {code}" for url, code in facts.local_status))
    lines.append(f"app service: {'running' if facts.app_running else 'not running'} ({facts.app_release or '?'})")
    if facts.deploys:
        lines.append(f"last app deploy: {facts.deploys[-1]}")
    if facts.error_log:
        lines.append(f"error.log, last line: {facts.error_log[-1]}")
    return lines


def diagnose(facts: Facts, measured: Sequence[str] = ()) -> Diagnosis:
    """Name the cause from FACTS; MEASURED are failures seen from outside, which "healthy" may never contradict."""
    measured = tuple(measured)
    seen = [*(f"measured from outside: {m}" for m in measured), *observations(facts)]
    for rule in RULES:
        found = rule(facts)
        if found is None:
            continue
        cause, summary = found
        if cause == HEALTHY and measured:
            break
        notes = set_aside(facts, cause)
        return Diagnosis(cause, summary, (*seen, *notes), facts, tuple(notes), measured)
    if measured:
        return Diagnosis(
            UNEXPLAINED,
            f"the checks do not explain what was measured ({measured[0]}); look where that request fails",
            tuple(seen),
            facts,
            (),
            measured,
        )
    return Diagnosis(UNKNOWN, "no rule matched what the checks saw", tuple(seen), facts)


class Server(Protocol):
    """What the doctor needs of a server: a name and a way to run a command in it (a Target, or any container)."""

    @property
    def name(self) -> str: ...

    def exec(self, argv: list[str], *, timeout: float = ...) -> ExecResult: ...


def examine(target: Server, measured: Sequence[str] = ()) -> Diagnosis:
    """Gather facts in one docker exec and diagnose them; MEASURED: failures seen from outside meanwhile."""
    result = target.exec(["sh", "-c", COLLECT_SCRIPT], timeout=DOCTOR_TIMEOUT)
    if result.timed_out:
        raise TargetError(f"the doctor's checks did not finish within {DOCTOR_TIMEOUT:.0f} s in {target.name}")
    try:
        return diagnose(parse_facts(result.stdout), measured)
    except ValueError as exc:
        raise TargetError(f"the doctor could not read its checks' output: {exc}") from exc
