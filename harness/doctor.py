"""White-box diagnosis: name the root cause from inside the target, blind.

The doctor is never told which scenario ran. It gathers Facts in one round
trip, walks every check so its evidence shows what it looked at (a decoy in
the logs does not stop it), and the first rule that fits names the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import TargetError
from harness.facts import COLLECT_SCRIPT, Facts, parse_facts
from harness.target import Target

HEALTHY = "healthy"
UNKNOWN = "unknown"
DOCTOR_TIMEOUT = 20.0


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    summary: str
    evidence: tuple[str, ...]
    facts: Facts

    @property
    def healthy(self) -> bool:
        return self.cause == HEALTHY


def observations(facts: Facts) -> list[str]:
    """One line per check, in the order a responder would look."""
    lines = []
    master = facts.nginx_master
    if master is None:
        lines.append("nginx master process: not running")
    else:
        state = "stopped (SIGSTOP)" if master.stopped else "running"
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
    if facts.error_log:
        lines.append(f"error.log, last line: {facts.error_log[-1]}")
    return lines


Rule = Callable[[Facts], tuple[str, str] | None]


def _nginx_not_running(facts: Facts) -> tuple[str, str] | None:
    if facts.nginx_master is None and facts.config_ok:
        return "nginx-not-running", "nginx is not running although its configuration is valid"
    return None


def _config_invalid(facts: Facts) -> tuple[str, str] | None:
    if facts.nginx_master is None and not facts.config_ok:
        return "config-invalid", "nginx is down and its configuration test fails"
    return None


def _site_not_enabled(facts: Facts) -> tuple[str, str] | None:
    master = facts.nginx_master
    unlinked = facts.unlinked_sites()
    if master and not master.stopped and facts.config_ok and not facts.nginx_listens_on(80) and unlinked:
        names = ", ".join(f"sites-available/{s}" for s in unlinked)
        return (
            "site-not-enabled",
            f"nginx runs with a valid config but serves no site on port 80: {names} is not linked into sites-enabled",
        )
    return None


def _healthy(facts: Facts) -> tuple[str, str] | None:
    master = facts.nginx_master
    if (
        master
        and not master.stopped
        and facts.config_ok
        and facts.service_running
        and facts.nginx_listens_on(80)
        and not facts.dangling_links()
    ):
        return HEALTHY, "nginx runs under its service, its config passes, and it listens on port 80"
    return None


# Order matters: specific causes before the general ones, healthy last.
RULES: list[Rule] = [_config_invalid, _nginx_not_running, _site_not_enabled, _healthy]


def diagnose(facts: Facts) -> Diagnosis:
    seen = observations(facts)
    for rule in RULES:
        found = rule(facts)
        if found is not None:
            cause, summary = found
            return Diagnosis(cause, summary, tuple(seen), facts)
    return Diagnosis(UNKNOWN, "no rule matched what the checks saw", tuple(seen), facts)


def examine(target: Target) -> Diagnosis:
    """Gather facts in one docker exec and diagnose them."""
    result = target.exec(["sh", "-c", COLLECT_SCRIPT], timeout=DOCTOR_TIMEOUT)
    if result.timed_out:
        raise TargetError(f"the doctor's checks did not finish within {DOCTOR_TIMEOUT:.0f} s in {target.name}")
    try:
        return diagnose(parse_facts(result.stdout))
    except ValueError as exc:
        raise TargetError(f"the doctor could not read its checks' output: {exc}") from exc
