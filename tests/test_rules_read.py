"""Firewall rules and access rules read as iptables and nginx apply them: pure logic, no Docker."""

from __future__ import annotations

import pytest

from harness.units.network import _policy_drops, blocks_port

CLIENT = "172.17.0.1"  # Docker's gateway: where the probe's requests arrive from


@pytest.mark.parametrize(
    ("rule", "blocks"),
    [
        ("-A INPUT ! -i lo -p tcp -m tcp --dport 80 -j DROP", True),
        ("-A INPUT -p tcp -m multiport --dports 80,443 -j REJECT --reject-with tcp-reset", True),
        ("-A INPUT -p tcp -m tcp --dport 70:90 -j DROP", True),
        ("-A INPUT -p tcp -m tcp --dport http -j DROP", True),
        ("-A OUTPUT -p tcp -m tcp --sport 80 -j DROP", True),
        ("-A blocklist -p tcp -m tcp --dport 80 -j DROP", True),
        ("-A INPUT -s 172.16.0.0/12 -p tcp -m tcp --dport 80 -j DROP", True),
        ("-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 80 -j DROP", False),
        ("-A INPUT ! -s 172.16.0.0/12 -p tcp -m tcp --dport 80 -j DROP", False),
        ("-A INPUT -i lo -p tcp -m tcp --dport 80 -j DROP", False),
        ("-A INPUT -p tcp -m tcp --dport 443 -j DROP", False),
        ("-A OUTPUT -p tcp -m tcp --dport 80 -j DROP", False),  # this server's own requests to others
        ("-A INPUT -p tcp -m tcp ! --dport 80 -j DROP", False),
        ("-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT", False),
        ("-A INPUT -p udp -m udp --dport 80 -j DROP", False),
    ],
)
def test_a_rule_blocks_port_80_from_outside_only_as_iptables_would_apply_it(rule: str, blocks: bool) -> None:
    assert blocks_port(rule, {80}, CLIENT) is blocks


def test_a_drop_policy_blocks_unless_a_rule_accepts_the_port() -> None:
    policy = ("-P INPUT DROP", "-P OUTPUT ACCEPT")
    ssh_only = ("-A INPUT -i lo -j ACCEPT", "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT")
    assert _policy_drops(ssh_only, policy, {80}) == "-P INPUT DROP"
    assert _policy_drops((*ssh_only, "-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT"), policy, {80}) is None
    assert _policy_drops(ssh_only, ("-P INPUT ACCEPT",), {80}) is None
    established = "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    assert _policy_drops((*ssh_only, established), policy, {80}) == "-P INPUT DROP"
    new_web = "-A INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport 80 -j ACCEPT"
    assert _policy_drops((*ssh_only, established, new_web), policy, {80}) is None
