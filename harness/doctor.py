"""White-box diagnosis: name the root cause from inside the server, blind.

The doctor is never told which scenario ran. Its first round trip gathers
the facts and brings /etc/nginx out; the configuration is parsed here, and a
second round trip checks what only the configuration can name (roots,
index files, upstreams, requests through nginx). For each request that failed
outside, it traces the path nginx would take and finds the first step that
breaks. Compared with the healthy examination before the fault (in a drill),
it lists what changed. Then every registered cause unit reads all of that:
the first that fits names the cause, and any other that fits is listed too.

Honest verdicts: "healthy" only when nothing fits and nothing failed
outside; "unexplained", with the failing request's trace, when the outage
was measured and no unit explains it; "unknown" when nothing was measured,
yet the server is not healthy and no unit says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harness.causes import (
    HEALTHY,
    UNEXPLAINED,
    UNKNOWN,
    Cause,
    Context,
    Diagnosis,
    Finding,
    Observation,
    Registry,
    registry,
)
from harness.changes import Changes, compare
from harness.command import Server
from harness.errors import TargetError
from harness.facts import COLLECT_SCRIPT, END, Facts, parse_facts, with_inside
from harness.inside import INSIDE_SCRIPT, Fetch, parse_inside, plan
from harness.known_good import Answer, Sent, gather_plan, parse_state
from harness.scripts import script
from harness.semantics import Request
from harness.trace import Step, Trace, trace

if TYPE_CHECKING:
    from harness.confmodel import Directive, Location
    from harness.confmodel import Server as Block

__all__ = [
    "HEALTHY",
    "UNEXPLAINED",
    "UNKNOWN",
    "Diagnosis",
    "Observation",
    "Request",
    "diagnose",
    "examine",
    "observations",
]

DOCTOR_TIMEOUT = 20.0


def observations(facts: Facts) -> list[Observation]:
    """One line per check, in the order a responder would look."""
    return [line for check in _CHECKS for line in check(facts)]


def _process(facts: Facts) -> Iterator[Observation]:
    master = facts.nginx_master
    if master is None:
        stale = f", pid file names dead pid {facts.pidfile}" if facts.stale_pidfile else ""
        yield Observation("process", f"nginx master process: not running{stale}")
    else:
        state = "stopped (SIGSTOP), not scheduled" if master.stopped else "running"
        yield Observation("process", f"nginx master process: {state} (pid {master.pid})")
    yield Observation("process", f"service nginx status: {'running' if facts.service_running else 'not running'}")
    config = facts.config_output.splitlines()
    passes = "nginx -t: passes" if facts.config_ok else f"nginx -t: fails: {config[0] if config else '?'}"
    yield Observation("config", passes)


def _ports(facts: Facts) -> Iterator[Observation]:
    ports = sorted(facts.config.ports() - {-1}) or [80]
    for port in ports:
        on_port = facts.listeners_on(port)
        if on_port:
            owners = sorted({p for item in on_port for p in item.processes}) or ["unknown process"]
            yield Observation("port", f"port {port}: listened on by {', '.join(owners)}")
        else:
            yield Observation("port", f"port {port}: nothing listens")
    if 80 not in ports and not facts.listeners_on(80):
        yield Observation("port", "port 80: nothing listens")


def _sites(facts: Facts) -> Iterator[Observation]:
    model = facts.config
    yield Observation("config", f"sites-available: {', '.join(facts.available) or 'empty'}")
    enabled = [
        f"{e.name} -> {e.link_target}{'' if e.target_exists else ' (dangling)'}"
        if e.kind == "link"
        else f"{e.name} ({e.kind})"
        for e in facts.enabled
    ]
    yield Observation("config", f"sites-enabled: {', '.join(enabled) or 'empty'}")
    for server in model.servers[:8]:
        listens = ", ".join(f"{i.address + ':' if i.address else ''}{i.port}{' default' if i.default_server else ''}"
                            for i in server.listens)  # fmt: skip
        yield Observation("config", f"{server.label()}: listen {listens}; server_name {' '.join(server.names) or '-'}")
    for include in model.includes:
        # An empty conf.d is normal; an include whose folder does not exist is a typo worth showing.
        folder = include.resolved.rsplit("/", 1)[0]
        if include.collected and not include.matched and folder not in model.files:
            said = f"include {include.pattern} matches no file: {folder} does not exist ({include.where})"
            yield Observation("config", said)
    for error in model.errors[:3]:
        yield Observation("config", f"configuration: {error}")


def _files_and_limits(facts: Facts) -> Iterator[Observation]:
    for root in facts.docroots:
        if not root.exists:
            yield Observation("files", f"document root {root.path}: missing")
            continue
        state = "readable" if root.worker_can_read else "not readable"
        index = ", ".join(root.index_files) or "no index file"
        yield Observation("files", f"document root {root.path}: {state} by {root.worker_user}; {index}")
    limit = "unlimited or unknown" if facts.open_files_limit is None else str(facts.open_files_limit)
    connections = facts.worker_connections or "?"
    yield Observation("resources", f"open files limit of nginx: {limit} (worker_connections {connections})")


def _firewall(facts: Facts) -> Iterator[Observation]:
    if facts.firewall_readable:
        dropping = [p for p in facts.firewall_policies if p.split()[-1] in ("DROP", "REJECT")]
        yield Observation("port", f"firewall rules: {'; '.join((*dropping, *facts.firewall_rules)) or 'none'}")
    else:
        yield Observation("port", "firewall rules: not readable here")


def _inside(facts: Facts) -> Iterator[Observation]:
    # Each with the Host it was asked for: on a server of several names, the URL alone says not which site answered.
    fetched = [f for f in facts.inside.fetches if f.code != "skipped"]
    if fetched:
        answered = ", ".join(f"{_as_asked(f)} {f.code}" for f in fetched)
        yield Observation("upstream", f"inside the server: {answered}")
    for url, code in facts.inside.upstreams.items():
        yield Observation("upstream", f"upstream {url}: {'no answer' if code == '000' else code}")
    if facts.error_log:
        yield Observation("config", f"error.log, last line: {facts.error_log[-1]}")


def _as_asked(fetched: Fetch) -> str:
    """A fetch as a person would read it: the URL with the Host it was asked for in place of 127.0.0.1."""
    if not fetched.host or fetched.host == "localhost":
        return fetched.url
    return fetched.url.replace("127.0.0.1", fetched.host.split(":")[0], 1)


# In the order a responder looks: the process, its ports, the configuration, files and limits, the way in, answers.
_CHECKS: tuple[Callable[[Facts], Iterator[Observation]], ...] = (
    _process,
    _ports,
    _sites,
    _files_and_limits,
    _firewall,
    _inside,
)


def _healthy(facts: Facts) -> bool:
    master = facts.nginx_master
    ports = sorted(facts.config.ports() - {-1}) or [80]
    fetched = facts.inside.fetches
    front = [f.code for f in fetched if f.url.rstrip("/").count("/") == 2 and not _by_design(facts, f)]
    return bool(
        master
        and not master.stopped
        and facts.config_ok
        and facts.service_running
        and all(facts.nginx_listens_on(port) for port in ports)
        and not facts.dangling_links()
        and (not front or front[0] == "200" or (front[0].isdigit() and 300 <= int(front[0]) < 500))
        and not _logged_failures(facts)
    )


def _logged_failures(facts: Facts) -> list[Request]:
    """The doctor's own requests that nginx failed and said so in its error log (Permission denied, say)."""
    found = []
    for fetched in facts.inside.fetches:
        parts = urlsplit(fetched.url)
        request = Request(parts.path or "/", fetched.host, parts.port or 80)
        if not fetched.code.isdigit() or int(fetched.code) < 400:
            continue
        # A 5xx nginx wrote a line about (a rewrite cycle, say) is a failure whatever its level.
        if facts.inside.logged_failure(request) or (int(fetched.code) >= 500 and facts.inside.said_about(request)):
            found.append(request)
    return found


def _fits(unit: Cause, context: Context) -> tuple[Finding | None, str]:
    """A unit's rule, guarded: a unit is plugin code, and one that crashes must not stop the diagnosis."""
    try:
        return unit.rule(context), ""
    except Exception as exc:
        return None, f"cause unit {unit.id} could not judge: {type(exc).__name__}: {exc}"


def diagnose(
    facts: Facts,
    measured: Sequence[str] = (),
    requests: Sequence[Request] = (),
    baseline: Facts | None = None,
    units: Registry | None = None,
) -> Diagnosis:
    """Name the cause from FACTS; MEASURED are failures seen from outside, which "healthy" may never contradict."""
    measured = tuple(measured)
    units = units or registry()
    wanted = tuple(requests) or ((Request(),) if measured else ())
    # Requests nginx failed inside the server are traced too: a dead upstream shows before any probe hits it.
    wanted += tuple(r for r in _failing_inside(facts) if r not in wanted)
    traces = tuple(
        _answered(_moved(_held_before(trace(facts, facts.inside, request), baseline), baseline), facts, baseline)
        for request in wanted
    )
    changes = compare(baseline, facts) if baseline is not None else Changes()
    context = Context(facts, traces, changes, measured, baseline)
    observed = [
        *(Observation("port", f"measured from outside: {m}") for m in measured),
        *observations(facts),
        # Several requests may break at the same step in the same words: said once.
        *dict.fromkeys(Observation(_area_of(t), f"trace {t.summary()}") for t in traces),
        *(Observation("config", _since(line, baseline)) for line in changes.lines()),
    ]
    if baseline is not None and baseline.known_good:
        observed.insert(len(measured), Observation("config", f"known good: {baseline.known_good}; compared with it"))
    findings: list[tuple[Cause, Finding]] = []
    for unit in units.causes:
        found, trouble = _fits(unit, context)
        if trouble:
            observed.append(Observation("config", trouble))
        if found is not None:
            findings.append((unit, found))
    if not findings and measured:
        findings = _from_error_log(units, facts, traces)
    evidence = tuple(o.text for o in observed)
    if findings:
        unit, found = findings[0]
        notes = [line for u in units.causes if u.set_aside for line in _notes(u, context, unit.id)]
        also = tuple(u.id for u, _ in findings[1:])
        extra = (*found.evidence, *(f"also fits: {u.id}: {f.summary}" for u, f in findings[1:]))
        observed += [Observation(unit.area, line) for line in (*extra, *notes)]
        return Diagnosis(
            unit.id, found.summary, (*evidence, *extra, *notes), context, tuple(notes), also, tuple(observed)
        )
    if _healthy(facts) and not measured:
        summary = "nginx runs under its service, its config passes, and it serves its site on port 80"
        return Diagnosis(HEALTHY, summary, evidence, context, observed=tuple(observed))
    if measured:
        where = next((t.summary() for t in traces if t.broken is not None), "")
        summary = f"the checks do not explain what was measured ({measured[0]})"
        label = traces[0].label() if traces else "the request"
        summary += f"; the request breaks here: {where}" if where else f"; every step of {label} holds inside"
        return Diagnosis(UNEXPLAINED, summary, evidence, context, observed=tuple(observed))
    broken = next((t for t in traces if t.broken is not None), None)
    summary = "no rule matched what the checks saw"
    if broken is not None:
        summary += f"; the request breaks here: {broken.summary()}"
    return Diagnosis(UNKNOWN, summary, evidence, context, observed=tuple(observed))


def _since(line: str, baseline: Facts | None) -> str:
    """A change's line, naming the team's record when that is what it was compared with."""
    if baseline is None or not baseline.known_good:
        return line
    return line.replace("since the healthy check", f"since {baseline.known_good.split(' (')[0]}")


def _held_before(item: Trace, baseline: Facts | None) -> Trace:
    """A step that broke just so at the healthy check, while nginx answered the request, is no cause of this outage:
    the model of nginx misread it (a rewrite it does not follow, say), so it is set aside and the trace goes on."""
    step = item.broken
    if baseline is None or step is None or step.what in ("socket", "outside", "answer"):
        return item
    then = trace(baseline, baseline.inside, item.request)
    same = then.broken
    if same is None or (same.what, same.detail, same.where) != (step.what, step.detail, step.where):
        return item
    fetched = next((f for f in baseline.inside.fetches if _fetch_is(f, item.request)), None)
    if fetched is None and not item.request.symptom:
        return item  # the doctor's own request, not asked at the healthy check: nothing says it was answered then
    if fetched is not None and not (fetched.code.isdigit() and int(fetched.code) < 400):
        return item  # it failed at the healthy check too
    said = f"{step.detail} (so at the healthy check too, when nginx answered this request: not this outage's cause)"
    index = item.steps.index(step)
    return Trace(item.request, (*item.steps[:index], replace(step, ok=True, detail=said), *item.steps[index + 1 :]))


def _fetch_is(fetched: Fetch, request: Request) -> bool:
    parts = urlsplit(fetched.url)
    return (parts.path or "/") == request.path and (parts.port or 80) == request.port and fetched.host == request.host


def _moved(item: Trace, baseline: Facts | None) -> Trace:
    """With a healthy record: a request now answered by another server than at the healthy check breaks there."""
    if baseline is None:
        return item
    from harness.semantics import choose_server

    before = choose_server(baseline.config, item.request)
    steps = list(item.steps)
    index = next((i for i, s in enumerate(steps) if s.what == "server"), None)
    if before is None or index is None or not steps[index].ok:
        return item
    if steps[index].where != str(before.where):
        said = f"answered by the server at {steps[index].where}; at the healthy check {before.label()} answered it"
        steps[index] = Step("server", False, said, str(before.where), subject=before.where.file, kind="moved")
    return Trace(item.request, tuple(steps))


def _from_error_log(units: Registry, facts: Facts, traces: Sequence[Trace]) -> list[tuple[Cause, Finding]]:
    """Failures only a request shows: nginx's error-log line about the doctor's own request for a failing one,
    matched against the log patterns units declare, localized to the governing directive's file:line."""
    import re

    from harness.facts import nginx_message
    from harness.semantics import choose_location, choose_server

    found: list[tuple[Cause, Finding]] = []
    for item in traces:
        line = facts.inside.said_about(item.request)
        if line is None:
            continue
        server = choose_server(facts.config, item.request)
        location = choose_location(server, item.request.path) if server is not None else None
        for unit in units.causes:
            for pattern, directive in unit.log_patterns:
                matched = re.search(pattern, line)
                if matched is None:
                    continue
                governs = _governing(facts, server, location, directive.split("|"))
                # A pattern that captures the path nginx failed on fits only a path under the directive that
                # governs it: a password file or a temp file refused is not the web root's fault.
                path = matched.groupdict().get("path")
                if path and governs and governs.args and "$" not in governs.args[0]:
                    top = governs.args[0].rstrip("/") + "/"
                    if not (path + "/").startswith(top):
                        continue
                named = governs.name if governs else directive.split("|")[0]
                where = f"`{named} {' '.join(governs.args)}` ({governs.where})" if governs else f"`{named}`"
                said = (
                    f"nginx fails {item.label()} only when it arrives: {nginx_message(line)[:200]}; governed by {where}"
                )
                found.append((unit, Finding(said, (f"error log, for the doctor's own request: {line[:300]}",))))
                break
    return found


def _governing(facts: Facts, server: Block | None, location: Location | None, names: list[str]) -> Directive | None:
    """The innermost directive of NAMES that governs the request: its location's, its server's, then the main
    context's (a directive nginx inherits from http or main)."""
    for block in (location, server):
        found = next((d for n in names if block is not None for d in [block.get(n)] if d is not None), None)
        if found is not None:
            return found
    return next((d for d in facts.config.main if d.name in names), None)


def _answered(item: Trace, facts: Facts, baseline: Facts | None) -> Trace:
    """With a healthy record: a request whose every step holds inside, yet whose replayed answer differs from the
    one it got at the healthy check, breaks at the directive whose configuration changed since (the first changed
    line of the file that holds its server or location)."""
    # "The way in from outside fails" is only a guess from curl's answer inside; the client's own request, replayed,
    # answered differently by nginx itself, says otherwise.
    if baseline is None or (item.broken is not None and item.broken.what != "outside"):
        return item
    changed = _changed_answer(item, facts, baseline)
    if changed is None:
        return item
    before, after = changed
    files = [s.where.rsplit(":", 1)[0] for s in item.steps if s.where and s.what in ("server", "location")]
    for path in dict.fromkeys(reversed(files)):
        old, new = baseline.config.raw.get(path), facts.config.raw.get(path)
        if old is None or new is None or old == new:
            continue
        line = _first_changed_line(old, new)
        said = f"the answer changed since the healthy check ({before.line()}, now {after.line()}); "
        said += f"the configuration changed here: {_line_text(new, line)}"
        step = Step("answer", False, said, f"{path}:{line}", subject=path, kind="changed")
        return Trace(item.request, (*(s for s in item.steps if s.ok), step))
    return item


def _changed_answer(item: Trace, facts: Facts, baseline: Facts) -> tuple[Answer, Answer] | None:
    request = item.request
    for now in facts.state.answers:
        parts = urlsplit(now.url)
        same = parts.path == request.path and (not request.host or parts.hostname == request.host)
        before = baseline.state.answer(now.method, now.url)
        if same and before is not None and (before.status, before.location, before.digest) != (
            now.status, now.location, now.digest
        ):  # fmt: skip
            return before, now
    return None


def _first_changed_line(old: bytes, new: bytes) -> int:
    a, b = old.decode(errors="replace").splitlines(), new.decode(errors="replace").splitlines()
    for number, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            return number
    return min(len(a), len(b)) + 1


def _line_text(content: bytes, line: int) -> str:
    lines = content.decode(errors="replace").splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else "(removed lines)"
    return f"`{text[:120]}`"


def _by_design(facts: Facts, fetched: Fetch) -> bool:
    """An answer inside that the configuration asks for: a `return` of that code where the request lands (a default
    server that drops unknown names with 444, which closes the connection, shows as no answer)."""
    from harness.semantics import choose_location, choose_server, configured_return

    parts = urlsplit(fetched.url)
    server = choose_server(facts.config, Request(parts.path or "/", fetched.host, parts.port or 80))
    if server is None:
        return False
    location = choose_location(server, parts.path or "/")
    returned = configured_return(server, location)
    if returned is None or not returned.args:
        return False
    return returned.args[0] == fetched.code or (returned.args[0] == "444" and fetched.code == "000")


def _failing_inside(facts: Facts) -> list[Request]:
    found = []
    for fetched in facts.inside.fetches:
        if (fetched.code == "000" or fetched.code.startswith("5")) and not _by_design(facts, fetched):
            parts = urlsplit(fetched.url)
            found.append(Request(parts.path or "/", fetched.host, parts.port or 80))
    return [*found, *(r for r in _logged_failures(facts) if r not in found)]


def _notes(unit: Cause, context: Context, cause: str) -> list[str]:
    try:
        return list(unit.set_aside(context, cause)) if unit.set_aside else []
    except Exception as exc:  # plugin code: its note is lost, the diagnosis is not
        logging.getLogger(__name__).warning(
            "cause unit %s could not set causes aside: %s: %s", unit.id, type(exc).__name__, exc
        )
        return []


def _area_of(item: Trace) -> str:
    step = item.broken
    if step is None:
        return "config"
    return {"socket": "port", "outside": "port", "file": "files", "upstream": "upstream"}.get(step.what, "config")


def collect_script(units: Registry | None = None) -> str:
    """The first round trip's script: the core checks, then every unit's own sections (constants they ship)."""
    return COLLECT_SCRIPT + (units or registry()).collect_lines() + END


def examine(
    target: Server,
    measured: Sequence[str] = (),
    requests: Sequence[Request] = (),
    baseline: Facts | None = None,
    replay: Sequence[Sent] = (),
) -> Diagnosis:
    """Gather facts in two round trips and diagnose them; MEASURED and REQUESTS: what failed outside meanwhile;
    REPLAY: the requests clients send, sent again from inside exactly so (their answers go into the record)."""
    wanted = tuple(requests) or ((Request(),) if measured else ())
    facts = gather(target, wanted, baseline, replay).facts
    if baseline is None:
        from harness.team_record import team_baseline

        baseline = team_baseline(facts)
    return diagnose(facts, measured, wanted, baseline)


@dataclass(frozen=True)
class Gathered:
    """The two round trips' raw output (what a capture keeps) and the facts parsed from it."""

    text: str
    facts: Facts


def script_digest() -> str:
    """A digest of every program the gathering runs: a capture made by other programs is stale."""
    import hashlib

    from harness.scripts import script as shipped

    programs = (collect_script(), INSIDE_SCRIPT, shipped("both.sh"), shipped("record.sh"))
    return hashlib.sha256("\0".join(programs).encode()).hexdigest()


def gather(
    target: Server, wanted: Sequence[Request] = (), baseline: Facts | None = None, replay: Sequence[Sent] = ()
) -> Gathered:
    """The doctor's two round trips (the doctor and the capture tool share this one): the first gathers the facts
    and brings /etc/nginx out; the second, planned from the configuration, checks what only it can name."""
    result = target.exec(["sh", "-c", collect_script()], timeout=DOCTOR_TIMEOUT)
    if result.timed_out:
        raise TargetError(f"the doctor's checks did not finish within {DOCTOR_TIMEOUT:.0f} s in {target.name}")
    try:
        facts = parse_facts(result.stdout)
    except ValueError as exc:
        raise TargetError(f"the doctor could not read its checks' output: {exc}") from exc
    second = target.exec(second_argv(facts, wanted, baseline, replay), timeout=DOCTOR_TIMEOUT)
    if second.timed_out:
        return Gathered(result.stdout, facts)
    facts = with_inside(facts, parse_inside(second.stdout, facts.config.user), parse_state(second.stdout))
    return Gathered(result.stdout + second.stdout, facts)


def second_argv(
    facts: Facts, wanted: Sequence[Request], baseline: Facts | None = None, replay: Sequence[Sent] = ()
) -> list[str]:
    """The second round trip: the checks the configuration names, then the known-good record's part; two constant
    programs run one after the other, each with its own arguments (the first COUNT are the first program's)."""
    checks = plan(facts.config, wanted, facts.error_logs).argv()[4:]  # the arguments after `sh -c SCRIPT sh`
    recorded = tuple(e.path for e in baseline.state.entries) if baseline is not None else ()
    record = gather_plan(facts.config, facts.error_logs, also=recorded, replay=tuple(replay)).args()
    return ["sh", "-c", script("both.sh"), "sh", INSIDE_SCRIPT, script("record.sh"), str(len(checks)), *checks, *record]
