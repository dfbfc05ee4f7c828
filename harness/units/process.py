"""Units about the nginx process itself: hung, crashed, stopped, or its port taken."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.command import ExecResult
from harness.errors import RemedyError
from harness.target import Target
from harness.units import changed_config_files, required, restore_from_record

if TYPE_CHECKING:
    from harness.doctor import Diagnosis
    from harness.facts import Facts, Process

WAIT_PORT_FREE = 'while ss -ltnH "sport = :$1" | grep -q .; do sleep 0.1; done'


def _hung(ctx: Context) -> Finding | None:
    """A stopped master, or every worker stopped: connections are accepted and then wait for no one. Some workers
    stopped while an outage is measured: the connections they accepted are the ones that hang."""
    processes = ctx.facts.nginx_processes
    stopped = [p for p in processes if p.stopped]
    workers = [p for p in processes if "worker process" in p.args]
    if not stopped:
        return None
    every_worker = bool(workers) and all(w.stopped for w in workers)
    if ctx.facts.nginx_master in stopped or every_worker or (ctx.measured and any(w.stopped for w in workers)):
        which = "nginx processes" if ctx.facts.nginx_master in stopped else f"of its {len(workers)} worker processes"
        return Finding(
            f"nginx is hung: {len(stopped)} {which} are stopped (state T), so connections queue "
            "and time out instead of being refused"
        )
    return None


def _start(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return [required(target.nginx.start(), "nginx did not start")]


def _clear_pidfile_and_start(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    return [target.exec(["rm", "-f", "/run/nginx.pid"], check=True), *_start(target, diagnosis)]


def _kill_hung(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    # A stopped process ignores TERM until continued; only KILL is sure to end it.
    pids = [str(p.pid) for p in diagnosis.facts.nginx_processes]
    return [target.exec(["kill", "-KILL", *pids]), *_clear_pidfile_and_start(target, diagnosis)]


def _squatted_ports(ctx: Context) -> list[int]:
    ports = sorted(ctx.facts.config.ports() - {-1}) or [80]
    return [port for port in ports if ctx.facts.others_on(port)]


SERVICE_CONFIG = "/etc/nginx/nginx.conf"


def _foreign_master(facts: Facts) -> tuple[Process, str] | None:
    """An nginx master the service did not start: its pid file does not name it and it was started by hand with
    another configuration (`nginx -c FILE`). It serves that file, and holds the ports the service's nginx needs."""
    master = facts.nginx_master
    if master is None or master.stopped or facts.pidfile_pid == master.pid:
        return None
    # Only where a service nginx is installed and not running: an nginx built to run from its own -c (OpenResty,
    # a container's) is the server, not a squatter.
    if SERVICE_CONFIG not in facts.config.files or facts.service_running:
        return None
    words = master.args.split()
    config = words[words.index("-c") + 1] if "-c" in words[:-1] else None
    return (master, config) if config is not None and config != SERVICE_CONFIG else None


def _squatted(ctx: Context) -> Finding | None:
    foreign = _foreign_master(ctx.facts)
    if foreign is not None:
        master, config = foreign
        return Finding(
            f"port 80 is held by an nginx started by hand with another configuration ({config}, master pid "
            f"{master.pid}), not by the nginx service: it answers from that configuration, and the service's "
            f"nginx ({SERVICE_CONFIG}) cannot bind"
        )
    facts = ctx.facts
    ports = _squatted_ports(ctx)
    if ports and facts.nginx_master is None:
        where = ", ".join(str(p) for p in ports)
        return Finding(f"nginx is down because another process holds port {where}: {holders(facts, ports)}"
                       f"{_bind_said(facts)}", tuple(bind_failures(facts)))  # fmt: skip
    # nginx runs, but a port its configuration names is held by another process: the reload that asked for it
    # failed to bind, nginx serves its previous configuration, and the next restart fails.
    running = facts.nginx_master
    held = [port for port in ports if not facts.nginx_listens_on(port)]
    if ctx.baseline is not None:
        # A port the configuration did not name at the healthy check: its listen line moved (site-listens-elsewhere
        # names that, with the holder), nobody took nginx's port.
        held = [port for port in held if port in ctx.baseline.config.ports()]
    if held and running is not None and not running.stopped and (bind_failures(facts) or ctx.measured):
        where = ", ".join(str(p) for p in held)
        lines = ", ".join(str(i.where) for s in facts.config.servers for i in s.listens if i.port in held)
        return Finding(
            f"the configuration listens on port {where} ({lines}), which another process holds: "
            f"{holders(facts, held)}; nginx cannot bind it{_bind_said(facts)}, so it still serves its previous "
            "configuration and the next restart fails",
            tuple(bind_failures(facts)),
        )
    return None


def holders(facts: Facts, ports: list[int]) -> str:
    """Who holds PORTS, as process, pid and command line: "python3 (pid 40: python3 -m http.server 8080)"."""
    commands = {p.pid: p.args for p in facts.processes}
    said = []
    for port in ports:
        for item in facts.others_on(port):
            for name, pid in item.users:
                command = commands.get(pid, "")
                said.append(f"{name} (pid {pid}{': ' + command[:120] if command else ''}) on port {port}")
    return ", ".join(dict.fromkeys(said)) or "a process ss does not name"


def bind_failures(facts: Facts) -> list[str]:
    """nginx's own words on a failed bind, from `nginx -t` and its error log since its workers started."""
    from harness.facts import nginx_message

    lines = [*facts.config_output.splitlines(), *facts.current_errors()]
    return list(dict.fromkeys(nginx_message(line)[:200] for line in lines if "Address already in use" in line))


def _bind_said(facts: Facts) -> str:
    failures = bind_failures(facts)
    return f" (nginx: {failures[-1]})" if failures else ""


def _proxied_ports(facts: Facts) -> set[int]:
    """The ports the configuration proxies to on this server: a process there is the site's own upstream."""
    from urllib.parse import urlsplit

    from harness.semantics import upstream_of

    found = set()
    for _, location in facts.config.all_locations():
        upstream = upstream_of(location, facts.config)
        if upstream is None or upstream.startswith("unix:"):
            continue
        try:
            port = urlsplit(upstream).port
        except ValueError:
            continue
        if port is not None:
            found.add(port)
    return found


def _evict(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    ports = sorted(facts.config.ports() - {-1}) or [80]
    upstreams = sorted(_proxied_ports(facts) & {p for p in ports if facts.others_on(p)})
    if upstreams or (facts.nginx_master is not None and _foreign_master(facts) is None):
        # The process holds a port the site proxies to (its own app), or nginx still serves: the listen line is
        # what moved, and killing the holder would take the site's app down with it.
        changed = changed_config_files(diagnosis)
        if changed:
            return restore_from_record(target, diagnosis, changed)
        raise RemedyError(
            f"{diagnosis.summary}: move nginx's listen line off that port (the process there is not to be killed)"
        )
    pids = sorted({str(pid) for port in ports for item in facts.others_on(port) for pid in item.pids})
    foreign = _foreign_master(facts)
    if foreign is not None:
        pids.append(str(foreign[0].pid))  # TERM: nginx's fast shutdown, its workers with it
    if not pids:
        raise RemedyError("the diagnosis names no process holding nginx's port")
    steps = [target.exec(["kill", "-TERM", *pids])]
    for port in ports:
        result = target.exec(["sh", "-c", WAIT_PORT_FREE, "sh", str(port)], timeout=10.0)
        steps.append(required(result, f"port {port} was not released"))
    return [*steps, *_start(target, diagnosis)]


def _crashed(ctx: Context) -> Finding | None:
    facts = ctx.facts
    if facts.nginx_master is None and facts.config_ok and facts.stale_pidfile:
        return Finding(
            f"nginx died without shutting down: /run/nginx.pid still names pid {facts.pidfile}, which is gone"
        )
    return None


PIDFILE = "/run/nginx.pid"  # where the collection reads it, and where Debian's and Ubuntu's nginx keep it


def _pidfile_lost(ctx: Context) -> Finding | None:
    """nginx runs, but its pid file is gone or names another process: the service cannot reach it any more."""
    facts = ctx.facts
    master = facts.nginx_master
    if master is None or master.stopped or (facts.config.value("pid") or PIDFILE) != PIDFILE:
        return None
    if facts.pidfile_pid == master.pid:
        return None
    said = "is missing" if facts.pidfile_pid is None else f"names pid {facts.pidfile_pid}, not the master's"
    return Finding(
        f"nginx runs (master pid {master.pid}) but {PIDFILE} {said}: `service nginx` stop, reload and restart "
        "cannot reach it, so the next config change is never loaded and a restart fails with port 80 still held"
    )


def _rewrite_pidfile(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    master = diagnosis.facts.nginx_master
    if master is None:
        raise RemedyError("no nginx master is running to write the pid file for")
    write = target.exec(["sh", "-c", 'printf "%s\\n" "$1" > "$2"', "sh", str(master.pid), PIDFILE])
    return [
        required(write, f"writing {PIDFILE} failed"),
        required(target.nginx.service("status"), "the service still cannot see nginx"),
    ]


def _not_installed(ctx: Context) -> Finding | None:
    """No nginx binary to run: the shell could not find or execute it (a package removed, a binary moved)."""
    facts = ctx.facts
    if facts.nginx_runs_here:
        return None
    said = facts.config_output.strip().splitlines()[-1:] or ["nothing"]
    state = "nginx is down" if facts.nginx_master is None else "nginx still runs, but no restart can bring it back"
    return Finding(f"{state}: the nginx program cannot be run (`nginx -t` exited {facts.config_exit}: {said[0][:160]})")


def _not_running(ctx: Context) -> Finding | None:
    if ctx.facts.nginx_master is None and ctx.facts.config_ok:
        return Finding("nginx is not running although its configuration is valid")
    return None


NGINX_HUNG = Cause(
    "nginx-hung",
    _hung,
    order=10,
    area="process",
    measures=("Alert on probe timeouts separately from refusals; a hung master needs a kill, not a reload.",),
    remedy=_kill_hung,
)
PORT_SQUATTED = Cause(
    "port-squatted",
    _squatted,
    order=20,
    area="port",
    measures=("Reserve port 80 for nginx; alert when another process binds it.",),
    remedy=_evict,
)
NGINX_NOT_INSTALLED = Cause(
    "nginx-not-installed",
    _not_installed,
    order=25,  # before anything that reads nginx -t: without a binary, its "failure" says nothing of the config
    area="process",
    measures=("Pin and monitor the nginx package; alert when its binary changes outside a deploy.",),
    advice="reinstall nginx's package (`apt-get install --reinstall nginx`, or the flavour that was installed), "
    "then `service nginx start`",
)
NGINX_CRASHED = Cause(
    "nginx-crashed",
    _crashed,
    order=70,
    area="process",
    measures=("Supervise nginx so a crash restarts it, and alert on restarts.",),
    remedy=_clear_pidfile_and_start,
)
PIDFILE_LOST = Cause(
    "pidfile-lost",
    _pidfile_lost,
    order=75,
    area="process",
    measures=(
        "Never delete /run/nginx.pid by hand; stop nginx through its service, and alert when the service and "
        "the process disagree.",
    ),
    remedy=_rewrite_pidfile,
)
NGINX_NOT_RUNNING = Cause(
    "nginx-not-running",
    _not_running,
    order=80,
    area="process",
    measures=("Alert on port 80 from outside, not only on the process; enable nginx at boot.",),
    remedy=_start,
)
