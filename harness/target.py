"""One throwaway nginx server in a container: start, exec, files, nginx control.

Commands are argv lists run without a shell; anything built from input is
passed as an argument, never spliced into a shell string. Every command runs
under coreutils `timeout` inside the target, so no exec can hang the harness.
"""

from __future__ import annotations

import io
import logging
import secrets
import tarfile
import time
from collections.abc import Callable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from harness import engine, ownership, server_paths
from harness.command import ExecResult
from harness.engine import Make, Trouble, boundary
from harness.errors import EngineUnavailable, NotOurTarget, TargetError, TargetGone, TargetNotReady
from harness.poll import poll_until
from harness.probe import DEFAULT_CHECKS, Check, Outcome, Probe, Sample
from harness.shell import SHELL_MARK, Shell, ShellDied
from harness.signals import background

log = logging.getLogger(__name__)

DEFAULT_EXEC_TIMEOUT = 30.0
EXEC_FAILED = 126  # docker exec's code when the command could not be started in the container
KILLED = 137  # SIGKILL: a deadline's kill-after, or the container itself being killed
GOING_AWAY_WATCH = 1.0
if TYPE_CHECKING:
    from harness.choice import Choice
    from harness.site import Site

HTTP_PORT = 80
HTTPS_PORT = 443


def exec_in(
    container: Any,
    argv: list[str],
    *,
    timeout: float = DEFAULT_EXEC_TIMEOUT,
    user: str = "root",
    environment: dict[str, str] | None = None,
) -> ExecResult:
    """Run ARGV in a container under coreutils `timeout`, so no command can hang the harness."""
    if not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("exec takes a non-empty list of strings")
    wrapped = ["timeout", "--kill-after=2", f"{timeout:g}", *argv]
    started = time.monotonic()
    code, (out, err) = container.exec_run(wrapped, demux=True, user=user, environment=environment)
    result = ExecResult(
        tuple(argv),
        int(code),
        (out or b"").decode(errors="replace"),
        (err or b"").decode(errors="replace"),
        time.monotonic() - started,
    )
    log.debug("exec %s -> %s in %.3fs", argv, result.exit_code, result.duration)
    return result


class State(Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class Nginx:
    """nginx control the way an operator does it on the server: through its service."""

    SITES_AVAILABLE = server_paths.SITES_AVAILABLE
    SITES_ENABLED = server_paths.SITES_ENABLED

    def __init__(self, target: Target) -> None:
        self._target = target

    def test_config(self, check: bool = False) -> ExecResult:
        return self._target.exec(["nginx", "-t"], check=check)

    def service(self, action: str, check: bool = False) -> ExecResult:
        return self._target.exec(["service", "nginx", action], check=check)

    def start(self, check: bool = False) -> ExecResult:
        return self.service("start", check)

    def stop(self, check: bool = False) -> ExecResult:
        return self.service("stop", check)

    def restart(self, check: bool = False) -> ExecResult:
        return self.service("restart", check)

    def reload(self, check: bool = False) -> ExecResult:
        return self.service("reload", check)

    def cold_restart(self) -> ExecResult:
        """Stop, then start: what `systemctl restart` does on Ubuntu.

        Debian's SysV `service nginx restart` tests the config first and
        refuses; systemd does not, so a bad config takes nginx down there.
        Returns the start's result (it fails when nginx cannot start).
        """
        self.stop()
        return self.start()

    def running(self) -> bool:
        """What the service's own status says."""
        return self.service("status").ok

    def enable_site(self, name: str) -> ExecResult:
        """Link sites-available/NAME into sites-enabled, as `ln -s` on a server would."""
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a site name: {name!r}")
        return self._target.exec(
            ["ln", "-sfn", f"{self.SITES_AVAILABLE}/{name}", f"{self.SITES_ENABLED}/{name}"], check=True
        )


class Target:
    """A started nginx target. Use as a context manager so it is always removed."""

    def __init__(
        self,
        image: str,
        *,
        run_id: str,
        labels: dict[str, str] | None = None,
        capabilities: tuple[str, ...] = (),
        probe_timeout: float = 1.0,
        ready_timeout: float = 30.0,
        bind_address: str = "127.0.0.1",
        host: str | None = None,  # where probes reach the published port (a remote engine's host)
        site: Site | None = None,  # a team's configuration (--site); None: the test server
        # Run in order once the container runs, as testcontainers runs a wait strategy: laying a --site tree is one.
        startup: Sequence[Callable[[Target], None]] = (),
    ) -> None:
        self.image = image
        self.run_id = run_id
        self.capabilities = capabilities
        self.probe_timeout = probe_timeout
        self.ready_timeout = ready_timeout
        self.labels = ownership.labels_for(run_id, **(labels or {}))
        self.state = State.NEW
        self.managed = True
        self.nginx = Nginx(self)
        from testcontainers.core.container import DockerContainer  # here, not at import: `harness list` needs none

        self._name = f"harness-{run_id}-{secrets.token_hex(3)}"
        self._container = DockerContainer(image, name=self._name)
        # Publish on loopback only: a deliberately broken server has no business on the LAN.
        self._container.ports[f"{HTTP_PORT}/tcp"] = (bind_address, None)  # type: ignore[assignment]
        self.site = site
        self._startup = tuple(startup)
        self._choice: Choice | None = None
        self.checks: tuple[Check, ...] = DEFAULT_CHECKS  # what "serving" means here: the site's recorded answers
        self.site_notes: list[str] = []
        from harness.footprint import Pacer  # every request harness sends this target, spaced within its limits

        self.pacer = Pacer(site.model if site is not None else None)
        self._tls_port: int | None = None
        if site is not None and site.tls():
            self._container.ports[f"{HTTPS_PORT}/tcp"] = (bind_address, None)  # type: ignore[assignment]
        self._container.with_kwargs(labels=self.labels, cap_add=list(capabilities) or None, hostname="harness-target")
        self._host = host or ("127.0.0.1" if bind_address in ("127.0.0.1", "0.0.0.0") else bind_address)
        self._port: int | None = None
        self._shell: Shell | None = None
        # One long-lived shell per target (harness.shell); False: a plain `docker exec` per command.
        self.persistent_shell = True
        # (monotonic start, what) for every round trip into the container: the benchmark counts them per phase.
        self.round_trips: list[tuple[float, str]] = []

    # -- lifecycle -------------------------------------------------------
    def __enter__(self) -> Target:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Target:
        if self.state is not State.NEW:
            raise TargetError(f"target is {self.state.value}; start a new Target instead of reusing one")
        with boundary("starting the target"):
            self._container.start()
            self.state = State.RUNNING
            self._port = int(self._container.get_docker_client().port(self.id, HTTP_PORT))
            if self.site is not None and self.site.tls():
                self._tls_port = int(self._container.get_docker_client().port(self.id, HTTPS_PORT))
        if self.persistent_shell:
            # Opened while nginx comes up, so the first command (the doctor's) does not pay for it.
            background(self._new_shell().warm, name="harness-shell").start()
        for step in self._startup:
            step(self)
        self.wait_until_serving(self.ready_timeout)
        return self

    @property
    def choice(self) -> Choice:
        """What scenarios break here: the site's chosen link, root and upstream, or the test server's own."""
        from harness.choice import choose, choose_live, live_model

        # Chosen once, before any fault: on the test server it is read from the live configuration, which an
        # injection then changes.
        if self._choice is None:
            self._choice = choose(self.site) if self.site is not None else choose_live(live_model(self))
        return self._choice

    def probe(self, timeout: float | None = None, checks: tuple[Check, ...] = ()) -> Probe:
        """A probe of this target as monitoring sees it: its page and app, or a site's recorded answers (or CHECKS),
        paced within the site's own limits."""
        return Probe(
            self.url,
            timeout=timeout or self.probe_timeout,
            checks=checks or self.checks,
            tls_url=self.tls_url,
            pacer=self.pacer,
        )

    @property
    def tls_url(self) -> str:
        return f"https://{self.host}:{self._tls_port}/" if self._tls_port else ""

    @property
    def load_check(self) -> Check | None:
        """What a load burst sends and expects: the first plain-HTTP check that serves a page and that none of the
        site's limit_req / limit_conn counts (a default server that drops unknown names costs nginx nothing, and a
        limited page turns a one-client burst away by design: a burst there proves nothing); None when no page
        qualifies (a TLS-only site, or every page limited)."""
        plain = [
            c
            for c in self.checks
            if c.scheme == "http" and not c.closed and not self.pacer.limits(c.host, f"/{c.path}", c.port)
        ]
        return next((c for c in plain if c.status == 200), plain[0] if plain else None)

    def stop(self) -> None:
        """Remove the container; safe to call twice and on a target that never started."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        if self._shell is not None:
            self._shell.disable()
        try:
            with engine.tolerate() as removal:
                if self._started():
                    self._container.get_wrapped_container().remove(force=True, v=True)
        finally:
            # Testcontainers gives each container its own client; close it or its sockets linger.
            self._container.get_docker_client().client.close()
        if removal.trouble is Trouble.CONFLICT:  # being removed already (an interrupt's sweep): that is the goal
            log.debug("target %s is already being removed", self._name)
        elif removal.trouble not in (None, Trouble.MISSING):
            log.warning("could not remove target %s: %s (harness sweep will)", self._name, removal.error)

    def restart(self, timeout: int = 10) -> None:
        """Restart the container, as a reboot restarts a server; Docker publishes port 80 anew."""
        if self._shell is not None:
            self._shell.close()  # the restart kills it; the next command opens a new one
        with boundary("restarting the target"):
            self._wrapped.restart(timeout=timeout)
            self._port = int(self._container.get_docker_client().port(self.id, HTTP_PORT))
            if self._tls_port is not None:
                self._tls_port = int(self._container.get_docker_client().port(self.id, HTTPS_PORT))

    def wait_until_serving(self, timeout: float) -> None:
        probe = self.probe()
        seen: list[Sample] = []

        def serving() -> Sample | None:
            seen.append(probe.sample())
            if seen[-1].outcome is Outcome.OK:
                return seen[-1]
            self._ensure_alive()
            return None

        try:
            # A local GET costs about a millisecond: polling finely starts drills sooner.
            if poll_until(serving, timeout=timeout, interval=0.02, what=f"{self._name} to serve") is not None:
                return
        finally:
            probe.close()
        last = seen[-1] if seen else None
        error = TargetNotReady(
            f"target {self.name} did not serve its page on {self.url} within {timeout:.0f} s "
            f"(last probe: {last.outcome.value if last else 'none'}, {last.detail if last else ''})"
        )
        error.add_note("container log tail:\n" + self.logs(tail=30))
        raise error

    # -- identity ---------------------------------------------------------
    def _started(self) -> bool:
        """Whether testcontainers created the container (a start may have failed before)."""
        from testcontainers.core.exceptions import ContainerStartException

        try:
            self._container.get_wrapped_container()
        except ContainerStartException:
            return False
        return True

    @property
    def _wrapped(self) -> Any:
        if self.state is not State.RUNNING or not self._started():
            raise TargetError(f"target is {self.state.value}; it has no container to talk to")
        return self._container.get_wrapped_container()

    @property
    def id(self) -> str:
        return str(self._wrapped.id)

    @property
    def name(self) -> str:
        return str(self._wrapped.name)

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise TargetError("target has not started; it has no port yet")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def shell_command(self) -> str:
        """What a person types for a root shell on this server."""
        return f"docker exec -it {self.name} bash"

    def require_managed(self) -> None:
        if not self.managed or self.labels.get(ownership.MANAGED) != "true":
            raise NotOurTarget(f"refusing to inject a fault into {self.name}: it was not started by harness")

    # -- commands and files ---------------------------------------------
    def exec(
        self,
        argv: list[str],
        *,
        timeout: float = DEFAULT_EXEC_TIMEOUT,
        check: bool = False,
        user: str = "root",
        environment: dict[str, str] | None = None,
    ) -> ExecResult:
        if not argv or not all(isinstance(a, str) for a in argv):
            raise TypeError("exec takes a non-empty list of strings")
        result = self._through_shell(argv, timeout) if user == "root" and not environment else None
        if result is None:
            self.round_trips.append((time.monotonic(), argv[0]))
            with boundary(f"running {argv[0]}"):
                result = exec_in(self._wrapped, argv, timeout=timeout, user=user, environment=environment)
        if result.exit_code in (EXEC_FAILED, KILLED) or result.exit_code < 0:
            # Not run at all, or killed: often because the container is going away. Docker may still
            # call it running for a moment while it is being killed, so look for a little while.
            self._ensure_alive(watch=GOING_AWAY_WATCH)
        return result.check() if check else result

    def _new_shell(self) -> Shell:
        self._shell = Shell(self._wrapped.client.api, self.id)
        return self._shell

    def use_plain_execs(self) -> None:
        """One `docker exec` per command from now on, instead of the target's long-lived shell."""
        self.persistent_shell = False
        if self._shell is not None:
            self._shell.disable()

    def _through_shell(self, argv: list[str], timeout: float) -> ExecResult | None:
        """ARGV through the target's long-lived shell; None when it cannot be used (then a plain exec runs it)."""
        self._wrapped  # noqa: B018 - a target that is not running says so, shell or not
        if self._shell is None:
            if not self.persistent_shell:
                return None
            self._new_shell()
        assert self._shell is not None
        if not self._shell.usable:
            return None
        started = time.monotonic()
        try:
            with boundary(f"running {argv[0]}"):
                reply = self._shell.run(argv, timeout)
        except ShellDied as exc:
            # It may have run: never run it twice. From now on plain execs, the reference behaviour.
            log.debug("persistent shell of %s died running %s: %s", self.name, argv[0], exc)
            self._shell.disable()
            reply = (KILLED, b"", f"harness: the shell running this command went away ({exc})".encode())
        if reply is None:
            return None
        self.round_trips.append((started, f"{argv[0]} {SHELL_MARK}"))
        code, out, err = reply
        result = ExecResult(
            tuple(argv), code, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - started
        )
        log.debug("exec (shell) %s -> %s in %.3fs", argv, result.exit_code, result.duration)
        return result

    def processes(self) -> frozenset[tuple[int, str]]:
        """(pid, command) of what runs in the target, leaving out the commands that looked (empty if unknown).

        Compared before and after a repair: a repair that left nothing new
        running has done all it will do.
        """
        listed = self.exec(["ps", "-eo", "pid=,comm="], timeout=5)
        if not listed.ok:
            return frozenset()
        found = set()
        for line in listed.stdout.splitlines():
            pid, _, comm = line.strip().partition(" ")
            if pid.isdigit() and comm.strip() not in ("ps", "timeout"):
                found.add((int(pid), comm.strip()))
        return frozenset(found)

    def read_file(self, path: str) -> str:
        return self.exec(["cat", "--", path], check=True).stdout

    def write_file(self, path: str, content: str | bytes, mode: int = 0o644) -> None:
        """Write a file in one round trip (a tar upload), creating nothing but the file."""
        if not path.startswith("/"):
            raise ValueError(f"target paths are absolute: {path!r}")
        data = content.encode() if isinstance(content, str) else content
        folder, _, filename = path.rpartition("/")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(filename)
            info.size = len(data)
            info.mode = mode
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
        self.round_trips.append((time.monotonic(), f"upload {path}"))
        if not self.upload(folder or "/", buffer.getvalue(), doing=f"writing {path}"):
            raise TargetError(f"the engine refused to write {path} in {self.name}")

    def upload(
        self, folder: str, archive: bytes, *, doing: str = "", instead: dict[Trouble, Make] | None = None
    ) -> bool:
        """Unpack a tar ARCHIVE into FOLDER in one round trip; False when the engine refuses it."""
        with boundary(doing or f"uploading into {folder}", instead):
            return bool(self._wrapped.put_archive(folder, archive))

    def logs(self, tail: int = 50) -> str:
        try:
            with boundary("reading its logs"):
                return bytes(self._wrapped.logs(tail=tail)).decode(errors="replace")
        except (TargetError, EngineUnavailable) as exc:
            return f"(no logs: {exc})"

    # -- errors -------------------------------------------------------------
    def _ensure_alive(self, watch: float = 0.0) -> None:
        """Raise TargetGone if the container is not running, or stops within WATCH seconds."""

        def stopped() -> str | None:
            with boundary("checking the target"):
                self._wrapped.reload()
            return None if self._wrapped.status == "running" else str(self._wrapped.status)

        status = poll_until(stopped, timeout=watch, interval=0.1, what=f"{self.name} to stop") or "running"
        if status in ("removing", "dead"):
            raise TargetGone(f"the target container {self.name} is being removed: something outside harness removed it")
        if status != "running":
            raise TargetGone(
                f"the target container {self.name} stopped ({status}) outside harness; log tail:\n{self.logs(tail=20)}"
            )
