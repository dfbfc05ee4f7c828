"""A record the team already keeps: the known good when harness never saw the server healthy.

`harness check` on a server harness did not start has no healthy examination to compare with. A team that keeps
`/etc/nginx` under git (a checkout of its own, or etckeeper's `/etc/.git`) has one: the configuration as it was
last committed. The first round trip's tar of /etc/nginx already holds `/etc/nginx/.git`; etckeeper's repository is
read from its own section of the same round trip. Git keeps a file's content, whether it is executable and a
link's target; it keeps no owner and no other mode bits, so those are taken from the file as it is now (a file git
has and the server lost gets 644 or 755, owned by root).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import io
import posixpath
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from harness.confmodel import FileEntry, parse_tree
from harness.known_good import NO_STATE
from harness.server_paths import CONF_ROOT

if TYPE_CHECKING:
    from harness.facts import Facts

NGINX = CONF_ROOT
# (where the repository is, the folder of /etc/nginx inside it, how the record names it)
REPOSITORIES = (
    (f"{NGINX}/.git", "", "the last commit of the git checkout of /etc/nginx"),
    ("/etc/.git", "nginx/", "etckeeper's last commit"),
)


def team_baseline(facts: Facts) -> Facts | None:
    """FACTS with /etc/nginx as the team's record last committed it (None: no such record, or none readable). Only
    the configuration differs: what git does not keep (paths nginx serves, processes, limits) is taken as it is now,
    so it is never a difference to undo."""
    repositories = dict(_repositories(facts))
    for gitdir, inside, source in REPOSITORIES:
        files = repositories.get(gitdir)
        if not files:
            continue
        committed = _committed(files, inside)
        if committed is None:
            continue
        head, tree = committed
        model = parse_tree(_tar(facts, tree), facts.prefix)
        return dataclasses.replace(facts, config=model, state=NO_STATE, known_good=f"{source} ({head[:12]})")
    return None


def _repositories(facts: Facts) -> list[tuple[str, dict[str, bytes]]]:
    """Each repository's files by their path inside it: /etc/nginx/.git from the tar, /etc/.git from its section."""
    found = []
    own = f"{NGINX}/.git/"
    nginx = {p[len(own) :]: b for p, b in facts.config.raw.items() if p.startswith(own)}
    found.append((f"{NGINX}/.git", nginx))
    etc = dict(facts.sections).get("etcgit", ())
    if etc:
        import base64

        try:
            data = base64.b64decode("".join(etc).strip(), validate=False)
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                files = {
                    m.name.lstrip("./").removeprefix("etc/.git/"): archive.extractfile(m).read()  # type: ignore[union-attr]
                    for m in archive
                    if m.isfile()
                }
        except (ValueError, tarfile.TarError, OSError):
            files = {}
        found.append(("/etc/.git", files))
    return found


def _committed(files: dict[str, bytes], inside: str) -> tuple[str, dict[str, tuple[int, bytes]]] | None:
    """HEAD's commit id and its files under INSIDE (path under /etc/nginx -> git mode, bytes); None when the
    repository cannot be read or has no commit."""
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo

    with tempfile.TemporaryDirectory() as tmp:
        git = Path(tmp) / ".git"
        for name, data in files.items():
            if ".." in Path(name).parts or name.startswith("/"):
                continue
            path = git / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        for folder in ("objects", "refs/heads", "refs/tags"):
            (git / folder).mkdir(parents=True, exist_ok=True)
        try:
            repo = Repo(tmp)
            head = repo.head()
            tree = repo[head].tree  # type: ignore[attr-defined]
            tree_files: dict[str, tuple[int, bytes]] = {}
            for entry in repo.object_store.iter_tree_contents(tree):
                name = entry.path.decode("utf-8", "surrogateescape")
                if not name.startswith(inside) or entry.mode is None or stat.S_ISDIR(entry.mode):
                    continue
                if entry.mode == 0o160000:
                    continue  # a submodule: no content here
                tree_files[f"{NGINX}/{name[len(inside) :]}"] = (entry.mode, repo[entry.sha].as_raw_string())
        except (NotGitRepository, KeyError, ValueError, OSError, AssertionError):
            return None
        return head.decode(), tree_files


def _tar(facts: Facts, tree: dict[str, tuple[int, bytes]]) -> bytes:
    """A tar of /etc/nginx as committed: git's files and links, the folders as they are now (and those the files
    need), and what git does not track (the repository itself, ignored files) as it is now."""
    now = facts.config.files
    raw = facts.config.raw
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:

        def add(path: str, kind: str, mode: int, owner: str, data: bytes = b"", link: str = "") -> None:
            member = tarfile.TarInfo(path.lstrip("/"))
            member.mode, member.uname = mode & 0o7777, owner
            if kind == "dir":
                member.type = tarfile.DIRTYPE
            elif kind == "link":
                member.type, member.linkname = tarfile.SYMTYPE, link
            else:
                member.size = len(data)
            archive.addfile(member, io.BytesIO(data) if kind == "file" else None)

        folders = {p for p, e in now.items() if e.kind == "dir"} | {NGINX}
        for path in tree:
            parent = path.rsplit("/", 1)[0]
            while parent.startswith(NGINX) and parent not in folders:
                folders.add(parent)
                parent = parent.rsplit("/", 1)[0]
        for path in sorted(folders):
            entry = now.get(path)
            add(path, "dir", entry.mode if entry else 0o755, entry.owner if entry else "root")
        for path, (mode, data) in sorted(tree.items()):
            entry = now.get(path)
            if stat.S_ISLNK(mode):
                add(path, "link", 0o777, entry.owner if entry else "root", link=data.decode("utf-8", "surrogateescape"))
                continue
            add(path, "file", _mode(mode, entry), entry.owner if entry else "root", data)
        for path, entry in sorted(now.items()):
            if path in tree or entry.kind == "dir" or not _untracked_kept(path, tree):
                continue
            add(path, entry.kind, entry.mode, entry.owner, raw.get(path, b""), entry.link)
    return buffer.getvalue()


def _mode(git_mode: int, entry: FileEntry | None) -> int:
    """The file's mode now when git agrees on whether it is executable; else git's own."""
    executable = bool(git_mode & 0o100)
    if entry is not None and entry.kind == "file" and bool(entry.mode & 0o100) == executable:
        return entry.mode
    return 0o755 if executable else 0o644


def _untracked_kept(path: str, tree: dict[str, tuple[int, bytes]]) -> bool:
    """What git never tracks is no change since the commit: the repository itself, and what the committed
    .gitignore files leave out (keys, generated files). Anything else untracked appeared since the commit."""
    if path == f"{NGINX}/.git" or path.startswith(f"{NGINX}/.git/"):
        return True
    for ignore, (_, data) in tree.items():
        if posixpath.basename(ignore) != ".gitignore":
            continue
        base = posixpath.dirname(ignore)
        if not path.startswith(base + "/"):
            continue
        relative = path[len(base) + 1 :]
        for raw in data.decode("utf-8", "replace").splitlines():
            pattern = raw.strip()
            if not pattern or pattern.startswith(("#", "!")):
                continue
            anchored = pattern.strip("/")
            names = (relative, posixpath.basename(relative)) if "/" not in anchored else (relative,)
            parts = relative.split("/")
            folders = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
            if any(fnmatch.fnmatchcase(n, anchored) for n in (*names, *folders, *parts[:-1])):
                return True
    return False
