"""Units about the way in: a firewall that drops what nginx would answer, on the way in or out."""

from __future__ import annotations

import ipaddress
import shlex
from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.command import ExecResult
from harness.target import Target

if TYPE_CHECKING:
    from harness.doctor import Diagnosis


_WAY_IN = ("--dport", "--dports", "--destination-port", "--destination-ports")
_WAY_OUT = ("--sport", "--sports", "--source-port", "--source-ports")
_PORT_NAMES = {"http": 80, "https": 443}


def _ports(value: str) -> set[int] | None:
    """An iptables port match (80, http, 80:90, 80,443) as the ports it covers; None when it is not readable."""
    covered: set[int] = set()
    for part in value.split(","):
        low, _, high = part.partition(":")
        try:
            first = _PORT_NAMES.get(low) or int(low or 0)
            last = (_PORT_NAMES.get(high) or int(high or 65535)) if _ else first
        except ValueError:
            return None
        if last - first > 70000:
            return None
        covered |= set(range(first, last + 1))
    return covered


def _option(words: list[str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in words and words.index(name) + 1 < len(words):
            return words[words.index(name) + 1]
    return None


def blocks_port(rule: str, ports: set[int], client: str | None = None) -> bool:
    """Whether an `iptables -S` rule drops or rejects connections to PORTS from outside: a rule on the way in
    (a destination port) in INPUT or a chain of its own, or on the way out (a source port) in OUTPUT. A rule for
    other sources (-s) than CLIENT, for the loopback, or negated, does not."""
    words = shlex.split(rule)
    if len(words) < 2 or words[0] != "-A" or not ({"DROP", "REJECT"} & set(words)):
        return False
    chain = words[1]
    if _option(words, ("-p", "--protocol")) not in (None, "tcp", "6", "all"):
        return False  # udp, icmp: not what HTTP needs
    negated = {words[i + 1] for i, word in enumerate(words[:-1]) if word == "!"}
    if negated - {"-i", "--in-interface", "-s", "--source"}:
        return False  # "every port but", "every protocol but": not read here
    interface = _option(words, ("-i", "--in-interface"))
    if interface == "lo" and not negated & {"-i", "--in-interface"}:
        return False  # only the loopback: requests from outside never pass it
    source = _option(words, ("-s", "--source"))
    # A rule for other sources than the client (or, negated, for the client's own) lets the request through.
    if source is not None and client is not None and _holds(source, client) == bool(negated & {"-s", "--source"}):
        return False
    names = _WAY_OUT if chain == "OUTPUT" else _WAY_IN
    if chain in ("FORWARD", "PREROUTING", "POSTROUTING"):
        return False
    value = _option(words, names)
    covered = _ports(value) if value is not None else None
    return covered is not None and bool(covered & ports)


def _holds(network: str, client: str) -> bool:
    try:
        return ipaddress.ip_address(client) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return True  # unreadable: count it, as a person reading the rule would


def _policy_drops(rules: tuple[str, ...], policies: tuple[str, ...], ports: set[int]) -> str | None:
    """`-P INPUT DROP` with no rule that accepts new connections to the port: the policy itself blocks it."""
    policy = next((p for p in policies if p.split()[1:3] in (["INPUT", "DROP"], ["INPUT", "REJECT"])), None)
    if policy is None:
        return None
    for rule in rules:
        words = shlex.split(rule)
        if words[:2] != ["-A", "INPUT"] or "ACCEPT" not in words or "lo" in words:
            continue
        state = _option(words, ("--state", "--ctstate"))
        if state is not None and "NEW" not in state.split(","):
            continue  # ESTABLISHED,RELATED: the replies to this server's own connections, not new clients
        value = _option(words, _WAY_IN)
        covered = _ports(value) if value is not None else set(range(1, 65536))
        if covered is None or covered & ports:
            return None
    return policy


def _served_ports(ctx: Context) -> set[int]:
    return (ctx.facts.config.ports() - {-1}) or {80}


def _firewall(ctx: Context) -> Finding | None:
    facts = ctx.facts
    ports = _served_ports(ctx)
    if not any(facts.nginx_listens_on(p) for p in ports):
        return None
    blocking = [r for r in facts.firewall_rules if blocks_port(r, ports, facts.outside_client)]
    policy = _policy_drops(facts.firewall_rules, facts.firewall_policies, ports)
    if not blocking and policy is None:
        return None
    how = "refuses" if blocking and all("REJECT" in r.split() for r in blocking) else "drops"
    said = "; ".join(blocking) if blocking else f"{policy}, and no rule accepts the port"
    return Finding(
        f"nginx serves port {', '.join(map(str, sorted(ports)))} inside the server, but the firewall {how} it "
        f"from outside: {said}"
    )


def _open_firewall(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    ports = (facts.config.ports() - {-1}) or {80}
    steps = []
    for rule in facts.firewall_rules:
        if blocks_port(rule, ports, facts.outside_client):
            words = shlex.split(rule)
            steps.append(target.exec(["iptables", "-w", "2", "-D", *words[1:]], check=True))
    if _policy_drops(facts.firewall_rules, facts.firewall_policies, ports) is not None:
        # The policy stays (someone chose it); the served ports get the rule they lack, first in the chain.
        for port in sorted(ports):
            accept = ["-p", "tcp", "--dport", str(port), "-j", "ACCEPT"]
            steps.append(target.exec(["iptables", "-w", "2", "-I", "INPUT", *accept], check=True))
    return steps


FIREWALL_BLOCKS_PORT = Cause(
    "firewall-blocks-port",
    _firewall,
    order=120,
    area="port",
    measures=("Manage firewall rules as code and probe port 80 from outside after each change.",),
    remedy=_open_firewall,
)
