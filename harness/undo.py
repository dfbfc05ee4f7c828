"""The general remedy: put back what changed since the known-good record, exactly the part the evidence implicates.

`differences` lists every difference between the record and what the
examination sees now that a repair knows how to undo, each as one `Undo` with
its reason and its inverse. `implicated` keeps the ones the evidence points
at: a path that `nginx -t`, the error log or the broken step of a trace names
(or a folder above it); when nothing is named, the kind of difference that the
broken step's area can explain. `undo_remedy` applies them, guarded: a
configuration change passes `nginx -t` before any reload, and when the server
answers worse afterwards than before, every undo is itself undone.

Never a guess: a file whose content a person changed (an emptied page, a new
release) is not rolled back here; it is named for advice. Harness's own content
is never written: every byte written back is the server's own, from the record.
"""

from __future__ import annotations

import dataclasses
import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import CommandFailed, RemedyError, TargetError
from harness.known_good import LIMIT_FILES, Entry, Record
from harness.server_paths import BACKUP_DIR, CONF_ROOT

if TYPE_CHECKING:
    from harness.command import ExecResult
    from harness.doctor import Diagnosis
    from harness.facts import Facts
    from harness.target import Target

# Folders too broad to implicate everything below them when evidence names them.
_BROAD = {"/", "/etc", CONF_ROOT, "/var", "/var/www", "/run", "/usr", "/var/log", "/var/lib"}
# Which differences a broken step of each kind can be explained by, when the evidence names no path.
_AREAS = {
    "socket": ("config", "firewall", "service", "process", "limits"),
    "outside": ("firewall", "config", "service", "process"),
    "server": ("config",),
    "location": ("config",),
    "return": ("config",),
    "access": ("config", "path"),
    "file": ("path", "config"),
    "upstream": ("service", "process", "firewall", "config"),
    "answer": ("config", "path"),
}


@dataclass(frozen=True)
class Act:
    """One command (ARGV), or one file written back from the record (PATH, CONTENT)."""

    argv: tuple[str, ...] = ()
    path: str = ""
    content: bytes = b""
    mode: int = 0o644

    def words(self) -> tuple[str, ...]:
        return self.argv or ("write", self.path, "(its bytes at the healthy check)")


@dataclass(frozen=True)
class Undo:
    area: str  # config, path, firewall, service, process, limits
    subject: str  # the path, rule or service
    reason: str
    acts: tuple[Act, ...]
    inverse: tuple[Act, ...] = ()  # what puts it back as it is now, if the undo makes things worse
    restart: bool = False  # nginx must restart (not reload) to take it: the master's limits

    def line(self) -> str:
        return f"undo {self.subject}: {self.reason}"


@dataclass(frozen=True)
class Advice:
    """A difference the record shows that a repair must not undo (content a person wrote)."""

    subject: str
    reason: str


def _run(*argv: str) -> Act:
    return Act(tuple(argv))


def _aside(path: str, stamp: str) -> str:
    return f"{BACKUP_DIR}/undone/{stamp}{path}"


def differences(record: Record, facts: Facts, stamp: str = "0") -> tuple[list[Undo], list[Advice]]:
    """Every difference between RECORD and FACTS that an undo can put back, and those left to a person."""
    undos: list[Undo] = []
    advice: list[Advice] = []
    _config_differences(record, facts, stamp, undos)
    _path_differences(record, facts, stamp, undos, advice)
    _firewall_differences(record, facts, undos)
    _running_differences(record, facts, undos)
    if record.source != "the healthy examination":
        # The reason names the record the undo puts back: "content changed since etckeeper's last commit (...)".
        since = f"since {record.source}"
        undos = [dataclasses.replace(u, reason=u.reason.replace("since the healthy check", since)) for u in undos]
        advice = [dataclasses.replace(a, reason=a.reason.replace("since the healthy check", since)) for a in advice]
    return undos, advice


_ORDER = {"config": 0, "path": 1, "limits": 2, "firewall": 3, "process": 4, "service": 5}


def _config_differences(record: Record, facts: Facts, stamp: str, undos: list[Undo]) -> None:
    if not record.config or not facts.config.files:
        return
    now = facts.config.files
    raw = facts.config.raw
    was = {f.path: f for f in record.config}
    added = [p for p in now if p not in was]
    moved_to: set[str] = set()
    moved_dirs: list[str] = []
    for path, old in sorted(was.items()):
        new = now.get(path)
        if new is None:
            if any(path.startswith(p + "/") for p in moved_dirs):
                continue  # its folder was moved back whole
            dest = next(
                (p for p in added if p not in moved_to and _same(now[p].kind, now[p].sha256, now[p].link, old)), None
            )
            if old.kind == "dir":
                dest = next((p for p in added if p not in moved_to and _same_tree(was, path, now, p)), None)
                if dest is not None:
                    moved_dirs.append(path)
                    moved_to.update(p for p in added if p == dest or p.startswith(dest + "/"))
            if dest is not None:
                moved_to.add(dest)
                undos.append(
                    Undo("config", path, f"moved to {dest} since the healthy check; moved back",
                         (_run("mv", "-T", "--", dest, path),), (_run("mv", "-T", "--", path, dest),))
                )  # fmt: skip
                continue
            undos.append(
                Undo("config", path, f"{_what(old.kind)} deleted since the healthy check; {_how(old.kind)}",
                     _create(old.path, old.kind, old.mode, old.owner, "", old.link, old.content),
                     (_run("rm", "-rf", "--", path),) if old.kind != "dir" else (_run("rmdir", "--", path),))
            )  # fmt: skip
            continue
        if new.kind != old.kind:
            keep = _aside(path, stamp)
            undos.append(
                Undo("config", path, f"a {_what(new.kind)} took the place of the {_what(old.kind)} there; "
                     f"moved aside to {keep} and {_how(old.kind)}",
                     (_run("mkdir", "-p", "--", posixpath.dirname(keep)), _run("mv", "-T", "--", path, keep),
                      *_create(old.path, old.kind, old.mode, old.owner, "", old.link, old.content)),
                     (_run("rm", "-rf", "--", path), _run("mv", "-T", "--", keep, path)))
            )  # fmt: skip
            continue
        if old.kind == "link" and new.link != old.link:
            undos.append(
                Undo("config", path, f"link pointed at {old.link}, now at {new.link}; re-linked",
                     (_run("ln", "-sfn", "--", old.link, path),), (_run("ln", "-sfn", "--", new.link, path),))
            )  # fmt: skip
        if old.kind == "file" and old.sha256 != new.sha256 and old.content is not None:
            current = raw.get(path)
            undos.append(
                Undo("config", path, "content changed since the healthy check; its recorded bytes written back",
                     (Act(path=path, content=old.content, mode=old.mode & 0o7777),),
                     (Act(path=path, content=current, mode=new.mode & 0o7777),) if current is not None else ())
            )  # fmt: skip
        if old.kind != "link" and (old.mode & 0o7777, old.owner) != (new.mode & 0o7777, new.owner):
            undos.append(_mode_undo("config", path, old.mode, old.owner, "", new.mode, new.owner, ""))
    for path in added:
        entry = now[path]
        if path in moved_to or entry.kind == "dir" or any(path.startswith(p + "/") for p in added if p != path):
            continue
        keep = _aside(path, stamp)
        undos.append(
            Undo("config", path, f"{_what(entry.kind)} added since the healthy check; moved aside to {keep}",
                 (_run("mkdir", "-p", "--", posixpath.dirname(keep)), _run("mv", "-T", "--", path, keep)),
                 (_run("mv", "-T", "--", keep, path),))
        )  # fmt: skip


def _same_tree(was: Mapping[str, object], path: str, now: Mapping[str, object], dest: str) -> bool:
    """Folder DEST now holds what folder PATH held at the healthy check (same names, kinds, contents, targets)."""

    def tree(entries: Mapping[str, object], top: str) -> set[tuple[str, str, str, str]]:
        return {
            (p[len(top) :], getattr(e, "kind", ""), getattr(e, "sha256", ""), getattr(e, "link", ""))
            for p, e in entries.items()
            if p.startswith(top + "/")
        }

    return getattr(now.get(dest), "kind", "") == "dir" and tree(was, path) == tree(now, dest)


def _same(kind: str, sha256: str, link: str, old: object) -> bool:
    if kind != getattr(old, "kind", None):
        return False
    if kind == "link":
        return link == getattr(old, "link", None)
    return kind == "file" and bool(sha256) and sha256 == getattr(old, "sha256", None)


def _what(kind: str) -> str:
    return {"f": "file", "d": "folder", "l": "link", "dir": "folder"}.get(kind, kind)


def _how(kind: str) -> str:
    return {"link": "re-linked", "l": "re-linked", "dir": "re-created", "d": "re-created"}.get(
        kind, "written back from the record"
    )


def _create(
    path: str, kind: str, mode: int, owner: str, group: str, link: str, content: bytes | None
) -> tuple[Act, ...]:
    owned = f"{owner}:{group}" if group else owner
    if kind in ("link", "l"):
        return (_run("ln", "-sfn", "--", link, path),)
    if kind in ("dir", "d"):
        return (_run("mkdir", "-p", "-m", oct(mode & 0o7777)[2:], "--", path), _run("chown", owned, "--", path))
    if content is None:
        raise ValueError("no recorded bytes")
    return (
        _run("mkdir", "-p", "--", posixpath.dirname(path)),
        Act(path=path, content=content, mode=mode & 0o7777),
        _run("chown", owned, "--", path),
    )


def _mode_undo(
    area: str, path: str, mode: int, owner: str, group: str, new_mode: int, new_owner: str, new_group: str
) -> Undo:
    owned = f"{owner}:{group}" if group else owner
    now_owned = f"{new_owner}:{new_group}" if new_group else new_owner
    octal, now_octal = oct(mode & 0o7777)[2:], oct(new_mode & 0o7777)[2:]
    acts, inverse = [], []
    said = []
    if octal != now_octal:
        acts.append(_run("chmod", octal, "--", path))
        inverse.append(_run("chmod", now_octal, "--", path))
        said.append(f"mode {now_octal.zfill(4)} (was {octal.zfill(4)})")
    if owned != now_owned:
        acts.append(_run("chown", owned, "--", path))
        inverse.append(_run("chown", now_owned, "--", path))
        said.append(f"owner {now_owned} (was {owned})")
    return Undo(area, path, f"{', '.join(said)}; put back", tuple(acts), tuple(inverse))


def _path_differences(record: Record, facts: Facts, stamp: str, undos: list[Undo], advice: list[Advice]) -> None:
    before, after = record.state, facts.state
    if not before.gathered or not after.gathered:
        return
    was, now = before.paths(), after.paths()
    appeared = [e for p, e in now.items() if p not in was]
    whole: list[str] = []  # folders put back whole (moved back): what they hold comes back with them
    for path, old in sorted(was.items()):
        if path.startswith(CONF_ROOT + "/") or any(path.startswith(p + "/") for p in whole):
            continue  # the configuration's own record covers it; or its folder brings it back
        new = now.get(path)
        parent = posixpath.dirname(path)
        if new is None and parent in was and parent not in now:
            continue  # its folder went: that folder's undo brings it back (or moves it back whole)
        if new is None or new.kind != old.kind:
            moved = next((e for e in appeared if _moved(old, e) or _same_folder(was, old, now, e)), None)
            acts: list[Act] = []
            inverse: list[Act] = []
            said = "deleted since the healthy check" if new is None else f"a {_what(new.kind)} took its place"
            if new is not None:
                keep = _aside(path, stamp)
                acts += [_run("mkdir", "-p", "--", posixpath.dirname(keep)), _run("mv", "-T", "--", path, keep)]
                inverse = [_run("mv", "-T", "--", keep, path)]
                said += f"; moved aside to {keep}"
            if moved is not None:
                appeared.remove(moved)
                whole.append(path)
                acts.append(_run("mv", "-T", "--", moved.path, path))
                inverse.insert(0, _run("mv", "-T", "--", path, moved.path))
                undos.append(Undo("path", path, f"{said}; it went to {moved.path}, moved back", tuple(acts),
                                  tuple(inverse)))  # fmt: skip
                continue
            if path.startswith("/run/") or old.kind not in ("d", "l", "f"):
                continue  # a pid file or socket is the running server's to write, not the record's
            try:
                created = _create(path, old.kind, int(old.mode, 8), old.owner, old.group, old.link,
                                  before.content(path))  # fmt: skip
            except ValueError:
                if old.kind == "f" and not _written_by_nginx(path):
                    advice.append(Advice(path, "deleted since the healthy check, and the record keeps no bytes of it"))
                continue
            if old.kind == "f" and _written_by_nginx(path):
                continue
            inverse.insert(0, _run("rm", "-rf", "--", path))
            undos.append(Undo("path", path, f"{_what(old.kind)} {said}; {_how(old.kind)}", (*acts, *created),
                              tuple(inverse)))  # fmt: skip
            continue
        if old.kind == "l" and old.link != new.link:
            undos.append(
                Undo("path", path, f"link pointed at {old.link}, now at {new.link}; re-linked",
                     (_run("ln", "-sfn", "--", old.link, path),), (_run("ln", "-sfn", "--", new.link, path),))
            )  # fmt: skip
            continue
        if old.kind != "l" and (old.mode, old.owner, old.group) != (new.mode, new.owner, new.group):
            undos.append(_mode_undo("path", path, int(old.mode, 8), old.owner, old.group, int(new.mode, 8),
                                    new.owner, new.group))  # fmt: skip
        if old.kind == "f" and old.sha256 and new.sha256 and old.sha256 != new.sha256:
            content = before.content(path)
            if path in LIMIT_FILES or path.startswith("/etc/security/limits.d/"):
                if content is not None:
                    undos.append(
                        Undo("limits", path, "limits changed since the healthy check; its recorded bytes written back",
                             (Act(path=path, content=content, mode=int(old.mode, 8)),),
                             (Act(path=path, content=after.content(path) or b"", mode=int(new.mode, 8)),),
                             restart=True)
                    )  # fmt: skip
            elif not _written_by_nginx(path) and not path.startswith("/run/"):
                advice.append(Advice(path, f"its content changed since the healthy check ({old.size} bytes, now "
                                           f"{new.size}): a person's to restore"))  # fmt: skip


def _same_folder(was: Mapping[str, Entry], old: Entry, now: Mapping[str, Entry], new: Entry) -> bool:
    """NEW (a folder that appeared) holds what folder OLD held: a move that a copy made (a new inode)."""
    if old.kind != "d" or new.kind != "d":
        return False

    def held(entries: Mapping[str, Entry], top: str) -> set[tuple[str, str, str]]:
        return {(p[len(top) :], e.kind, e.sha256) for p, e in entries.items() if p.startswith(top + "/")}

    before = held(was, old.path)
    return bool(before) and before == held(now, new.path)


def _written_by_nginx(path: str) -> bool:
    return path.startswith(("/var/log/", "/var/lib/nginx/", "/run/")) or path.endswith((".log", ".pid"))


def _moved(old: object, new: object) -> bool:
    kind = getattr(old, "kind", "")
    if kind != getattr(new, "kind", None):
        return False
    if getattr(old, "inode", 0) and getattr(old, "inode", 0) == getattr(new, "inode", -1):
        return True
    sha = getattr(old, "sha256", "")
    return bool(sha) and sha == getattr(new, "sha256", "") and getattr(old, "size", 0) > 0


def _firewall_differences(record: Record, facts: Facts, undos: list[Undo]) -> None:
    if not (record.firewall_readable and facts.firewall_readable):
        return
    for rule in facts.firewall_rules:
        if rule in record.firewall_rules:
            continue
        words = shlex.split(rule)
        if len(words) < 2 or words[0] != "-A":
            continue
        undos.append(
            Undo("firewall", rule, "firewall rule added since the healthy check; deleted",
                 (_run("iptables", "-w", "2", "-D", *words[1:]),), (_run("iptables", "-w", "2", "-A", *words[1:]),))
        )  # fmt: skip
    was = {p.split()[1]: p.split()[2] for p in record.firewall_policies if len(p.split()) == 3}
    for policy in facts.firewall_policies:
        parts = policy.split()
        if len(parts) == 3 and was.get(parts[1], parts[2]) != parts[2]:
            undos.append(
                Undo("firewall", f"policy of {parts[1]}", f"{parts[2]} since the healthy check, was {was[parts[1]]}; "
                     "put back", (_run("iptables", "-w", "2", "-P", parts[1], was[parts[1]]),),
                     (_run("iptables", "-w", "2", "-P", parts[1], parts[2]),))
            )  # fmt: skip


def _running_differences(record: Record, facts: Facts, undos: list[Undo]) -> None:
    now = dict(facts.services)
    for name, running in record.services:
        # nginx itself is started (or restarted) after every undo, once its configuration passes the test.
        if running and now.get(name) is False and name != "nginx":
            undos.append(
                Undo("service", name, f"service {name} ran at the healthy check and is stopped now; started",
                     (_run("service", name, "start"),), (_run("service", name, "stop"),))
            )  # fmt: skip
    stopped = {p.pid: p for p in facts.processes if p.stopped}
    for pid, stat, args in record.processes:
        again = stopped.get(pid)
        if again is not None and not stat.startswith("T") and again.args == args:
            undos.append(
                Undo("process", f"pid {pid}", f"{args} was stopped (SIGSTOP) since the healthy check; resumed",
                     (_run("kill", "-CONT", str(pid)),), (_run("kill", "-STOP", str(pid)),))
            )  # fmt: skip


# -- what the evidence implicates ---------------------------------------------------------------------


def evidence_paths(diagnosis: Diagnosis) -> set[str]:
    """Paths the evidence names: nginx -t's file, files it could not open, broken steps, the error logs' quotes."""
    import re

    facts = diagnosis.facts
    named: set[str] = set()
    if facts.config_file is not None:
        named.update(facts.config_file)
    for missing in facts.missing:
        named.update((missing.path, missing.directory))
    for item in diagnosis.traces:
        step = item.broken
        if step is None:
            continue
        if step.subject.startswith("/"):
            named.add(step.subject)
        if step.where:
            named.add(step.where.rsplit(":", 1)[0])
    lines = (*facts.current_errors(), *facts.inside.errors) if not facts.config_ok or diagnosis.traces else ()
    for line in (*lines, *facts.config_output.splitlines(), *facts.config.errors):
        named.update(re.findall(r'"(/[^"]+)"', line))
        named.update(re.findall(r" in (/[^:\s]+):\d+", line))
    return {posixpath.normpath(p) for p in named if p.startswith("/")}


def _names(undo: Undo, named: set[str]) -> bool:
    subject = undo.subject
    if not subject.startswith("/"):
        return False
    for path in named:
        if path == subject or (path.startswith(subject + "/") and subject not in _BROAD):
            return True
        if subject.startswith(path + "/") and path not in _BROAD:
            return True
    return False


def implicated(undos: list[Undo], diagnosis: Diagnosis) -> list[Undo]:
    """The undos the evidence implicates: those it names, else those the broken step's area can explain."""
    if not undos:
        return []
    named = evidence_paths(diagnosis)
    chosen = [u for u in undos if _names(u, named)]
    if chosen:
        # A limit restored, a stopped service or process: each also explains a refused or slow answer on its own.
        chosen += [u for u in undos if u.area in ("service", "process", "limits") and u not in chosen]
    else:
        broken = [t.broken.what for t in diagnosis.traces if t.broken is not None]
        areas = {a for what in broken for a in _AREAS.get(what, ())} if broken else set(_AREAS["socket"]) | {"path"}
        chosen = [u for u in undos if u.area in areas]
    return sorted(chosen, key=lambda u: _ORDER.get(u.area, 9))


def plan_undo(diagnosis: Diagnosis, record: Record | None = None) -> tuple[list[Undo], list[Advice]]:
    """The undos for DIAGNOSIS against RECORD (default: its healthy examination's); none on a healthy server."""
    if diagnosis.healthy:
        return [], []
    context = diagnosis.context
    if record is None:
        if context.baseline is None:
            return [], []
        record = context.baseline.record()
    from harness.units import stamp

    undos, advice = differences(record, diagnosis.facts, stamp())
    return implicated(undos, diagnosis), advice


# -- doing it -------------------------------------------------------------------------------------------


def _do(target: Target, act: Act) -> ExecResult:
    from harness.units import note

    if act.argv:
        return target.exec(list(act.argv), timeout=20.0)
    target.write_file(act.path, act.content, mode=act.mode)
    return note("wrote", act.path, "(its bytes at the healthy check)")


def _front(target: Target, facts: Facts) -> str:
    """The status nginx answers inside for the first plain-HTTP server's `/` ("000": none): a before/after gauge."""
    fetched = [f for f in facts.inside.fetches if f.code != "skipped"]
    if not fetched:
        return ""
    first = fetched[0]
    result = target.exec(
        ["curl", "-s", "-o", "/dev/null", "-m", "2", "-H", f"Host: {first.host}", "-w", "%{http_code}", first.url],
        timeout=10.0,
    )
    return result.stdout.strip() or "000"


def _rank(code: str) -> int:
    """Better answers rank higher: an answer beats none, below 500 beats a server error."""
    if not code.isdigit() or code == "000":
        return 0
    return 1 if code.startswith("5") else 2


def apply(target: Target, diagnosis: Diagnosis, undos: list[Undo]) -> list[ExecResult]:
    """Apply UNDOS one step each, then test and load the configuration; undo them all if that makes things worse."""
    from harness.units import note

    facts = diagnosis.facts
    steps: list[ExecResult] = []
    before = _front(target, facts)
    done: list[Undo] = []
    try:
        for undo in undos:
            for act in undo.acts:
                result = _do(target, act)
                steps.append(result)
                if not result.ok:
                    raise RemedyError(
                        f"the undo of {undo.subject} failed: {' '.join(result.argv)} exited {result.exit_code}: "
                        f"{result.output.strip()[-200:]}"
                    )
            done.append(undo)
            steps.append(note("undone", undo.subject, f"({undo.reason})"))
        tested = target.nginx.test_config()
        steps.append(tested)
        if not tested.ok and _complaint(tested.output) == _complaint(facts.config_output):
            raise RemedyError(f"after the undo nginx -t still fails: {_complaint(tested.output)}")
        if not tested.ok and facts.config_ok:
            raise RemedyError(f"after the undo nginx -t fails: {_complaint(tested.output)}")
        if not tested.ok:
            # It failed before and fails now on something else: progress; the next round looks at what it names.
            steps.append(note("nginx -t now fails further on:", _complaint(tested.output)))
            return steps
        steps += _load(target, facts, restart=any(u.restart for u in done))
    except (RemedyError, CommandFailed, TargetError) as exc:
        steps += _revert(target, done)
        if isinstance(exc, RemedyError):
            raise RemedyError(f"{exc}; every undo was itself undone") from exc
        raise RemedyError(f"an undo step failed: {exc}; every undo was itself undone") from exc
    after = _front(target, facts) if before else ""
    if before and _rank(after) < _rank(before):
        steps += _revert(target, done)
        steps += _load(target, facts, restart=False)
        raise RemedyError(
            f"after the undo nginx answered {after} inside, worse than {before} before it; every undo was itself undone"
        )
    return steps


def _complaint(output: str) -> str:
    """nginx -t's own complaint, without its time stamp."""
    from harness.facts import nginx_message

    lines = [line for line in output.splitlines() if "[emerg]" in line or "[alert]" in line]
    return nginx_message(lines[0])[:200] if lines else ""


def _load(target: Target, facts: Facts, restart: bool) -> list[ExecResult]:
    from harness.units import required

    if facts.nginx_master is None:
        return [required(target.nginx.start(), "nginx did not start")]
    if restart:
        return [required(target.nginx.restart(), "nginx did not restart")]
    return [required(target.nginx.reload(), "nginx did not reload")]


def _revert(target: Target, done: list[Undo]) -> list[ExecResult]:
    from harness.units import note

    steps = []
    for undo in reversed(done):
        for act in undo.inverse:
            try:
                steps.append(_do(target, act))
            except TargetError:
                continue
        steps.append(note("reverted", undo.subject))
    return steps


def undo_remedy(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    """The general remedy: undo what the evidence implicates; without a record, or nothing to undo, advice."""
    undos, advice = plan_undo(diagnosis)
    if not undos:
        told = "; ".join(f"{a.subject}: {a.reason}" for a in advice)
        raise RemedyError(
            "nothing the known-good record shows explains the outage" + (f"; left to a person: {told}" if told else "")
        )
    return apply(target, diagnosis, undos)


def explains(diagnosis: Diagnosis) -> bool:
    """Whether the known-good record explains DIAGNOSIS's outage: some implicated difference can be undone."""
    return bool(plan_undo(diagnosis)[0])


__all__ = ["Advice", "Undo", "apply", "differences", "explains", "implicated", "plan_undo", "undo_remedy"]
