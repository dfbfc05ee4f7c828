"""The built-in cause units, and the pieces their rules and remedies share.

Each module holds the units of one area (process, config, files, network,
resources, upstream); every unit is registered in pyproject.toml's
`harness.causes` entry points, exactly as a plugin's would be.

Remedies work from what the examination found, never from the scenario.
Every command runs inside the target as an argv list: a value read from the
server is only ever an argument. A change to the configuration goes through
`config_change`, which keeps the files' previous bytes and puts them back if
`nginx -t` then fails: a remedy never leaves the server worse than it found it.

Units import the doctor's own modules (facts, confmodel, inside) only where a
rule or remedy runs: loading the registry, as `harness list` does to name
broken units, then costs no configuration parser.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from harness.command import ExecResult
from harness.errors import RemedyError
from harness.server_paths import BACKUP_DIR, CONF_ROOT
from harness.target import Target

if TYPE_CHECKING:
    from harness.confmodel import Server
    from harness.doctor import Diagnosis
    from harness.facts import Facts
    from harness.trace import Trace

WAIT_TIMEOUT = 10.0


def serving(facts: Facts) -> bool:
    """nginx runs, is not stopped, and its configuration on disk passes the test."""
    master = facts.nginx_master
    return bool(master and not master.stopped and facts.config_ok)


def answered(facts: Facts, item: Trace, otherwise: str) -> str:
    """ "nginx answers CODE" as the doctor's own request for ITEM's path was answered inside the server; OTHERWISE
    when no such request was made or none was answered (a summary says only what was seen)."""
    from harness.semantics import local_url

    url = local_url(facts.config, item.request.port, item.request.path)
    seen = [f for f in facts.inside.fetches if f.url == url]
    fetched = next((f for f in seen if f.host == item.request.host), seen[0] if seen else None)
    if fetched is None or not fetched.code.isdigit() or fetched.code == "000":
        return otherwise
    return f"nginx answers {fetched.code}"


def another_answers(item: Trace) -> bool:
    """Whether some server answers ITEM's request now: something listens and a server block takes it. Only then
    may a summary say "another server answers"."""
    socket = next((s for s in item.steps if s.what == "socket"), None)
    server = next((s for s in item.steps if s.what == "server"), None)
    return bool(socket and socket.ok and server and (server.ok or server.kind == "moved"))


def ports_of(server: Server) -> str:
    """The ports a server listens on, each once ("8080", not "8080, 8080" for its IPv4 and IPv6 lines)."""
    return ", ".join(str(port) for port in sorted({item.port for item in server.listens}))


def blamed(facts: Facts) -> str:
    if facts.config_file is None:
        return "the configuration"
    named, real = facts.config_file
    return named if named == real else f"{named} (-> {real})"


def required(result: ExecResult, problem: str) -> ExecResult:
    if not result.ok:
        raise RemedyError(
            f"{problem}: {' '.join(result.argv)} exited {result.exit_code}: {result.output.strip()[-300:]}"
        )
    return result


def wait(target: Target, script: str, problem: str) -> ExecResult:
    """Run a constant waiting script under a deadline; a wait that never ends fails the remedy."""
    result = target.exec(["sh", "-c", script], timeout=WAIT_TIMEOUT)
    return required(result, f"{problem} within {WAIT_TIMEOUT:g} s" if result.timed_out else problem)


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def note(*words: str) -> ExecResult:
    """A step that is not a command (a file written from the healthy record), shown in the report like one."""
    return ExecResult(tuple(words), 0, "", "", 0.0)


def bring_up(target: Target, facts: Facts, restart: bool = False) -> list[ExecResult]:
    """Test the config, then start nginx, or make a running one load it.

    A running master loads a changed config on reload (SIGHUP) without dropping
    a connection; a restart is needed only for what a reload keeps, such as
    the master's own limits.
    """
    steps = [required(target.nginx.test_config(), "the config test still fails")]
    if facts.nginx_master is None:
        steps.append(required(target.nginx.start(), "nginx did not start"))
    elif restart:
        steps.append(required(target.nginx.restart(), "nginx did not restart"))
    else:
        steps.append(required(target.nginx.reload(), "nginx did not reload"))
    return steps


@contextmanager
def config_change(target: Target, paths: list[str], steps: list[ExecResult]) -> Iterator[None]:
    """Change the files at PATHS inside the block; if `nginx -t` fails after it, put their old bytes back."""
    saved: dict[str, bytes | None] = {}
    for path in paths:
        found = target.exec(["sh", "-c", 'test -f "$1" && base64 < "$1"', "sh", path])
        saved[path] = _decode(found.stdout) if found.ok else None
    yield
    test = target.nginx.test_config()
    steps.append(test)
    if test.ok:
        return
    for path, content in saved.items():
        if content is None:
            target.exec(["rm", "-f", "--", path])
        else:
            target.write_file(path, content)
    steps.append(note("undo", *paths, "(the config test failed after the change)"))
    raise RemedyError(
        f"the change to {', '.join(paths)} did not give a valid configuration, so it was undone: "
        f"{test.output.strip()[-300:]}"
    )


def _decode(text: str) -> bytes:
    import base64

    return base64.b64decode("".join(text.split()))


def recorded(diagnosis: Diagnosis, path: str) -> bytes | None:
    """PATH's bytes as the healthy examination saw them (its record of /etc/nginx), if it did."""
    context = diagnosis.context
    if context.baseline is None:
        return None
    return context.baseline.config.raw.get(path)


def changed_config_files(diagnosis: Diagnosis) -> list[str]:
    """Files under /etc/nginx whose content changed since the healthy check, or that are new."""
    return [c.subject for c in diagnosis.changes.of("file-changed", "file-added") if c.after]


def reverting(otherwise: str) -> Callable[[Target, Diagnosis], list[ExecResult]]:
    """A remedy that puts back the configuration files changed since the healthy check, from its record; with no
    such change to undo, it fails naming the diagnosis and OTHERWISE (what a person should do instead)."""

    def revert(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
        changed = changed_config_files(diagnosis)
        if not changed:
            raise RemedyError(f"{diagnosis.summary}; nothing changed since a healthy check to put back: {otherwise}")
        return restore_from_record(target, diagnosis, changed)

    return revert


def restore_from_record(target: Target, diagnosis: Diagnosis, paths: list[str], load: bool = True) -> list[ExecResult]:
    """Put PATHS back as the healthy examination recorded them (new ones are moved aside), test, and (LOAD) reload."""
    steps: list[ExecResult] = []
    facts = diagnosis.facts
    with config_change(target, paths, steps):
        for path in paths:
            before = recorded(diagnosis, path)
            if before is None and not path.startswith(CONF_ROOT + "/"):
                # A link's target outside the configuration (a folder, even /tmp) is not the record's to move.
                raise RemedyError(f"{path} is outside /etc/nginx, which the record holds; it was left in place")
            if before is None:
                keep = f"{BACKUP_DIR}/rejected/{stamp()}{path}"
                # Moved, not copied: a link (even one to a folder) goes aside as the link it is.
                steps.append(target.exec(["mkdir", "-p", "--", keep.rsplit("/", 1)[0]], check=True))
                steps.append(target.exec(["mv", "-T", "--", path, keep], check=True))
                steps.append(note("moved", path, "aside to", keep, "(it did not exist at the healthy check)"))
            else:
                target.write_file(path, before)
                steps.append(note("restored", path, "from the healthy examination's record of /etc/nginx"))
    if not load:
        return steps
    if facts.nginx_master is None:
        steps.append(required(target.nginx.start(), "nginx did not start"))
    else:
        steps.append(required(target.nginx.reload(), "nginx did not reload"))
    return steps


def quoted(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)
