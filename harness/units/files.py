"""Units about the files nginx serves: permissions along the path, a missing root, a missing index."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.command import ExecResult
from harness.errors import RemedyError
from harness.target import Target
from harness.units import answered, changed_config_files, required, restore_from_record, reverting, serving

if TYPE_CHECKING:
    from harness.doctor import Diagnosis
    from harness.trace import Step

RELEASE_DIR = "/opt/site/release"  # where a site release is kept on servers deployed like harness's own
SITE_MARKER = "/etc/harness-site"  # a team's tree was laid here: harness's own pages are not its content


def _unreadable(ctx: Context) -> Finding | None:
    if not serving(ctx.facts):
        return None
    broken = [(item, step) for item, step in ctx.broken("file") if step.kind in ("unreadable", "unenterable")]
    if broken:
        said = answered(ctx.facts, broken[0][0], "nginx cannot serve the file")
        return Finding(f"{said}: {broken[0][1].detail}", tuple(f"blocked: {s.detail}" for _, s in broken))
    bad = [r for r in ctx.facts.docroots if r.exists and not r.worker_can_read]
    if bad:
        names = ", ".join(r.path for r in bad)
        return Finding(f"its worker user {bad[0].worker_user} cannot read the document root {names}")
    return None


def _open_path(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    """Give the worker back read (files) and entry (directories) along every path that failed, and no more."""
    facts = diagnosis.facts
    context = diagnosis.context
    blocked = [step.subject for _, step in context.broken("file")]
    from harness.inside import components

    steps: list[ExecResult] = []
    opened: set[str] = set()  # several failing requests share folders: each is opened once
    for path in blocked:
        for part in components(path):
            stat = facts.inside.stat(part)
            if stat is None or not stat.exists or part in opened:
                continue
            opened.add(part)
            if stat.kind == "directory" and not (stat.enterable and stat.readable):
                steps.append(target.exec(["chmod", "a+rx", "--", part], check=True))
            elif stat.kind.startswith("regular") and not stat.readable:
                steps.append(target.exec(["chmod", "a+r", "--", part], check=True))
    # A root the worker cannot read at all (the first examination's own check): the folders above it it cannot
    # enter (a parent locked by a hardening script, while PHP-FPM still answers), then the root as a whole.
    for root in (r.path for r in facts.docroots if r.exists and not r.worker_can_read):
        for part in components(root)[:-1]:
            stat = facts.inside.stat(part)
            if part not in blocked and stat is not None and stat.kind == "directory" and not stat.enterable:
                blocked.append(part)
                steps.append(target.exec(["chmod", "a+rx", "--", part], check=True))
        steps.append(target.exec(["chmod", "-R", "a+rX", "--", root], check=True))
    return steps


def _root_missing(ctx: Context) -> Finding | None:
    broken = [(item, step) for item, step in ctx.broken("file") if step.kind == "missing-root"]
    if serving(ctx.facts) and broken:
        item, step = broken[0]
        return Finding(f"{answered(ctx.facts, item, 'nginx has no file to serve')}: {step.detail} ({step.where})")
    return None


def _restore_root(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    changed = changed_config_files(diagnosis)
    if changed:
        return restore_from_record(target, diagnosis, changed)
    raise RemedyError(f"{diagnosis.summary}: restore that directory from the site's release, or point the root at it")


def _index_missing(ctx: Context) -> Finding | None:
    if not serving(ctx.facts):
        return None
    broken = [(item, step) for item, step in ctx.broken("file") if step.kind == "absent"]
    if broken:
        item, step = broken[0]
        said = answered(ctx.facts, item, "nginx has no file to serve")
        return Finding(f"{said}: {step.detail} in {step.subject} ({step.where})")
    # Without the inside checks' trace only (older captures): with it, the trace says which file a request needs,
    # and a root without an index may be what the site wants (an app behind try_files, files under an alias).
    bare = [r for r in ctx.facts.docroots if r.exists and r.worker_can_read and not r.index_files]
    bare = bare if not ctx.facts.inside.ran else []
    if bare:
        wanted = " ".join(ctx.facts.directive("index")) or "index.html"
        return Finding(f"the document root {', '.join(r.path for r in bare)} has none of its index files ({wanted})")
    return None


def _restore_index(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    facts = diagnosis.facts
    context = diagnosis.context
    roots = {step.subject for _, step in context.broken("file") if step.subject}
    roots |= {r.path for r in facts.docroots if r.exists and not r.index_files}
    if target.exec(["test", "-e", SITE_MARKER]).ok:
        # A team's site: its pages are its own. Copying harness's test pages in would hide the fault, not fix it.
        raise RemedyError(f"{diagnosis.summary}: deploy the site's pages again (they are the team's, not harness's)")
    if not target.exec(["test", "-d", RELEASE_DIR]).ok:
        raise RemedyError(f"{diagnosis.summary}: redeploy the site's pages (no release copy in {RELEASE_DIR})")
    # -n: put back what is missing, never overwrite pages that are there.
    restore = [target.exec(["cp", "-a", "-n", f"{RELEASE_DIR}/.", f"{root}/"]) for root in sorted(roots)]
    problem = f"restoring pages from the site release in {RELEASE_DIR} failed (redeploy the site)"
    return [required(step, problem) for step in restore]


WEB_ROOT_UNREADABLE = Cause(
    "web-root-unreadable",
    _unreadable,
    order=130,
    area="files",
    measures=("Set web-root permissions in the deploy, and check the page as the worker user.",),
    remedy=_open_path,
    # A file or folder nginx may not open; not an upstream socket (`connect() to unix:... failed (13: ...)`).
    log_patterns=((r"\"(?P<path>[^\"]*)\"( is)? (failed|forbidden) \(13: Permission denied\)", "root|alias"),),
)
ROOT_MISSING = Cause(
    "root-missing",
    _root_missing,
    order=135,
    area="files",
    measures=("Deploy the site's files and its nginx root together, and check the page after each deploy.",),
    remedy=_restore_root,
    advice="create the directory the root names, or point the root at the site's files",
    # The index module says a folder "is not found" when the root itself is gone.
    log_patterns=((r"\"(?P<path>[^\"]*)\" is not found \(2: No such file or directory\)", "root|alias"),),
)
INDEX_MISSING = Cause(
    "index-missing",
    _index_missing,
    order=140,
    area="files",
    measures=("Check that the release artifact contains index.html before switching to it.",),
    remedy=_restore_index,
    log_patterns=((r"directory index of \"[^\"]*\" is forbidden", "index"),),
)


# -- the page served, not the one that was --------------------------------------------------------------

_WRONG_PAGE = ("not-our-server", "missing-text")  # nginx answered 200, but not with the page that was expected


def _other_content(ctx: Context) -> Finding | None:
    """nginx answers 200 with another page than before: the file it serves for the request is not the one it
    served at the healthy check (a root, alias, index or location changed), or that file itself changed."""
    from harness.trace import trace

    baseline = ctx.baseline
    if baseline is None or not baseline.inside.ran or not serving(ctx.facts):
        return None
    for item in ctx.traces:
        # A trace broken only at its answer (the replayed request answered otherwise than at the healthy check)
        # still reached a file: which file, and whether it is the one served before, is this unit's question.
        if item.request.symptom not in _WRONG_PAGE or (item.broken is not None and item.broken.what != "answer"):
            continue
        now = _served(item.steps)
        before = _served(trace(baseline, baseline.inside, item.request).steps)
        if now is None or before is None:
            continue
        if now.subject != before.subject:
            changed = [c.subject for c in ctx.changes.of("file-changed", "file-added")]
            return Finding(
                f"nginx serves another file for {item.label()}: {now.subject}, not {before.subject} as at the "
                f"healthy check ({now.where})" + (f"; changed since then: {', '.join(changed)}" if changed else "")
            )
        old, new = baseline.inside.stat(before.subject), ctx.facts.inside.stat(now.subject)
        if old is not None and new is not None and (old.size, old.mtime) != (new.size, new.mtime):
            return Finding(
                f"the file nginx serves for {item.label()} changed since the healthy check: {now.subject} "
                f"({old.size} bytes, now {new.size})",
                (),
            )
    return None


def _served(steps: tuple[Step, ...]) -> Step | None:
    return next((s for s in steps if s.what == "file" and s.ok and s.subject), None)


# Another file served: the configuration change goes back. The same file changed: a deploy's to redo.
_put_back_what_changed = reverting("the page itself changed, nothing in /etc/nginx changed: deploy the page again")


OTHER_CONTENT = Cause(
    "site-serves-other-content",
    _other_content,
    order=128,  # after the access phase; nginx found a file, only not the one it served before
    area="files",
    measures=("Check the page's content, not only its status, after every deploy and reload.",),
    remedy=_put_back_what_changed,
    advice="deploy the site's page again, or point the root back at it, then reload",
)
