"""Units about the way in: a firewall that drops what nginx would answer."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.target import ExecResult, Target

if TYPE_CHECKING:
    from harness.doctor import Diagnosis


def blocks_port(rule: str, ports: set[int]) -> bool:
    words = rule.split()
    if "--dport" not in words or words.index("--dport") + 1 >= len(words):
        return False
    port = words[words.index("--dport") + 1]
    named = {"http": 80, "https": 443}.get(port, int(port) if port.isdigit() else -1)
    return named in ports and ("DROP" in words or "REJECT" in words)


def _served_ports(ctx: Context) -> set[int]:
    return (ctx.facts.config.ports() - {-1}) or {80}


def _firewall(ctx: Context) -> Finding | None:
    ports = _served_ports(ctx)
    blocking = [r for r in ctx.facts.firewall_rules if blocks_port(r, ports)]
    if blocking and any(ctx.facts.nginx_listens_on(p) for p in ports):
        return Finding(
            f"nginx serves port {', '.join(map(str, sorted(ports)))} inside the server, but the firewall "
            f"{'refuses' if all('REJECT' in r.split() for r in blocking) else 'drops'} it from outside: "
            f"{'; '.join(blocking)}"
        )
    return None


def _open_firewall(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    ports = (diagnosis.facts.config.ports() - {-1}) or {80}
    steps = []
    for rule in diagnosis.facts.firewall_rules:
        if blocks_port(rule, ports):
            words = shlex.split(rule)
            steps.append(target.exec(["iptables", "-w", "2", "-D", *words[1:]], check=True))
    return steps


FIREWALL_BLOCKS_PORT = Cause(
    "firewall-blocks-port",
    _firewall,
    order=120,
    area="port",
    measures=("Manage firewall rules as code and probe port 80 from outside after each change.",),
    remedy=_open_firewall,
)
