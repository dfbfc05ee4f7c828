"""A second Docker engine on this machine, listening on a loopback TCP port: a stand-in for a remote one.

It gets its own bridge, data root and exec root, so it shares nothing with the
main engine but the kernel. With no registry, the target image is copied in
with `docker save | docker load`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

BRIDGE = "harness-br2"
BRIDGE_ADDRESS = "172.31.250.1/24"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(host: str) -> bool:
    check = subprocess.run(["docker", "-H", host, "info"], capture_output=True, timeout=20)
    return check.returncode == 0


@contextmanager
def second_engine(image: str, bridge: str = BRIDGE, address: str = BRIDGE_ADDRESS) -> Iterator[str]:
    """Start a dockerd on tcp://127.0.0.1:<free port> holding IMAGE; yield its DOCKER_HOST; stop and remove it."""
    root = Path(tempfile.mkdtemp(prefix="harness-engine2-"))
    host = f"tcp://127.0.0.1:{_free_port()}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], capture_output=True)
    subprocess.run(["ip", "addr", "add", address, "dev", bridge], capture_output=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True, capture_output=True)
    with open(root / "dockerd.log", "wb") as log:
        daemon = subprocess.Popen(
            [
                "dockerd",
                "--host", host,
                "--data-root", str(root / "data"),
                "--exec-root", str(root / "exec"),
                "--pidfile", str(root / "dockerd.pid"),
                "--bridge", bridge,
            ],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _answers(host):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the second dockerd did not start: {(root / 'dockerd.log').read_text()[-2000:]}")
            time.sleep(0.5)
        saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        with saved:
            loaded = subprocess.run(["docker", "-H", host, "load"], stdin=saved.stdout, capture_output=True)
        if loaded.returncode != 0:
            raise RuntimeError(f"could not copy {image} into the second engine: {loaded.stderr.decode()[-500:]}")
        yield host
    finally:
        stop(daemon)
        # An engine killed mid-run leaves its containers' shims (and tini, nginx, the app under them) running
        # with nothing above them, and their network namespaces mounted under ROOT: end and unmount them all.
        reap(root)
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def processes_of(root: Path) -> list[int]:
    """Pids of processes started for the engine under ROOT: any whose command line names ROOT, and their trees."""
    parents: dict[int, int] = {}
    named: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        if str(root) in cmdline and pid != os.getpid():
            named.add(pid)
    found = set(named)
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return sorted(found)


def mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return [p for p in points if p == str(root) or p.startswith(f"{root}/")]


def reap(root: Path) -> None:
    """Kill every process of the engine under ROOT (deepest first), then unmount what it mounted."""
    for _ in range(3):
        pids = processes_of(root)
        if not pids:
            break
        for pid in reversed(pids):
            with suppress(ProcessLookupError):
                os.kill(pid, 9)
        time.sleep(0.3)
    for point in sorted(mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def stop(daemon: subprocess.Popen[bytes]) -> None:
    """Stop a dockerd and wait for it; SIGKILL if it does not go within 20 s."""
    if daemon.poll() is None:
        daemon.terminate()
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, 9)
            daemon.wait()
