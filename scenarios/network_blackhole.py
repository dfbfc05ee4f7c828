"""A firewall rule drops port 80 traffic from outside: clients time out.

nginx is perfectly healthy and answers on the loopback interface; only
packets arriving from the network are dropped. The one scenario that needs
NET_ADMIN, and the only one that gets it.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target

RULE = ["INPUT", "-p", "tcp", "--dport", "80", "!", "-i", "lo", "-j", "DROP"]


class NetworkBlackhole(Scenario):
    name = "network-blackhole"
    summary = "iptables drops TCP port 80 arriving from outside the server"
    symptom = Symptom.TIMEOUT
    cause = "firewall-blocks-port"
    needs = ("port-80",)
    capabilities = ("NET_ADMIN",)

    def inject(self, target: Target) -> None:
        target.exec(["iptables", "-w", "2", "-A", *RULE], check=True)

    def repair(self, target: Target) -> None:
        target.exec(["iptables", "-w", "2", "-D", *RULE], check=True)
