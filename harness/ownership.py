"""Labels that mark what harness created, and the sweep that removes orphans.

Ryuk is unavailable here, so crash safety comes from labels: every container
and network carries the run that made it and the process that owns it. A later
harness start removes whatever belongs to a process that no longer exists,
and never touches a live run's targets.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness import engine
from harness.engine import Trouble, boundary

if TYPE_CHECKING:
    from docker.models.containers import Container
    from docker.models.networks import Network

    import docker

log = logging.getLogger(__name__)

MANAGED = "harness.managed"
RUN = "harness.run"
OWNER = "harness.owner"
SCENARIO = "harness.scenario"


def _process_start_ticks(pid: int) -> str | None:
    """Start time of a process, so a recycled pid is not taken for its owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def owner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_process_start_ticks(pid) or '?'}"


def owner_alive(token: str) -> bool | None:
    """True or False for an owner on this host; None when it lives elsewhere (not ours to judge)."""
    try:
        host, pid, ticks = token.rsplit(":", 2)
        pid_number = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return None
    return _process_start_ticks(pid_number) == ticks


def labels_for(run_id: str, **extra: str) -> dict[str, str]:
    return {MANAGED: "true", RUN: run_id, OWNER: owner_token(), **extra}


@dataclass(frozen=True)
class Removed:
    kind: str
    name: str
    run: str


def _remove_matching(client: docker.DockerClient, labels: list[str], keep_alive_owners: bool) -> list[Removed]:
    from docker.models.containers import Container

    removed: list[Removed] = []
    filters: dict[str, str | list[str] | bool] = {"label": labels}
    with boundary("cleaning up", every=engine.unavailable):
        containers = client.containers.list(all=True, filters=filters, ignore_removed=True)
        networks = client.networks.list(filters=filters)
    items: list[tuple[Container | Network, str]] = [
        *((c, "container") for c in containers),
        *((n, "network") for n in networks),
    ]
    for item, kind in items:
        found = item.attrs.get("Labels") or item.attrs.get("Config", {}).get("Labels") or {}
        if keep_alive_owners and owner_alive(found.get(OWNER, "")) is not False:
            continue
        with engine.tolerate() as removal:
            if isinstance(item, Container):
                item.remove(force=True, v=True)
            else:
                item.remove()
        if removal.trouble is not None:
            # Gone already, or another harness process is removing it right now: that is the goal anyway.
            if removal.trouble is not Trouble.MISSING and not (
                removal.trouble is Trouble.CONFLICT and "in progress" in str(getattr(removal.error, "explanation", ""))
            ):
                log.warning("could not remove %s %s: %s", kind, item.name, removal.error)
            continue
        removed.append(Removed(kind, str(item.name), found.get(RUN, "?")))
    return removed


def sweep_orphans(client: docker.DockerClient) -> list[Removed]:
    """Remove what harness processes on this host left behind when they died."""
    return _remove_matching(client, [f"{MANAGED}=true"], keep_alive_owners=True)


def remove_run(client: docker.DockerClient, run_id: str) -> list[Removed]:
    """Remove everything one run created, whoever owns it now."""
    return _remove_matching(client, [f"{MANAGED}=true", f"{RUN}={run_id}"], keep_alive_owners=False)


def remove_all(client: docker.DockerClient) -> list[Removed]:
    """Remove every harness container and network on the engine (`harness sweep --all`)."""
    return _remove_matching(client, [f"{MANAGED}=true"], keep_alive_owners=False)
