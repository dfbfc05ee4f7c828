"""A record the team keeps (/etc/nginx under git): with no healthy examination, `check` names a change against the
last commit, and the general undo puts back exactly the committed bytes; a tree equal to its commit is untouched."""

from __future__ import annotations

import base64
import dataclasses
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.doctor import HEALTHY, Request, examine
from harness.facts import parse_facts
from harness.target import Target
from harness.team_record import team_baseline
from harness.undo import apply, plan_undo

DATA = Path(__file__).parent / "data"
SITE = "/etc/nginx/sites-available/default"


def _git(folder: Path, *argv: str) -> None:
    who = ["-c", "user.name=ops", "-c", "user.email=ops@example.invalid", "-c", "init.defaultBranch=main"]
    subprocess.run(["git", *who, "-C", str(folder), *argv], check=True, capture_output=True)


def _commit_etc_nginx(target: Target, tmp_path: Path) -> None:
    """The team's checkout: /etc/nginx as it is now, committed (git on this machine: the server has none)."""
    tree = target.exec(["sh", "-c", "tar -C /etc/nginx -cf - . | base64 -w0"], check=True).stdout
    work = tmp_path / "nginx"
    work.mkdir()
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(tree))) as archive:
        archive.extractall(work, filter="tar")
    _git(work, "init", "-q")
    (work / ".gitignore").write_text("*.key\n")
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "known good")
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as archive:
        archive.add(work / ".git", ".git")
        archive.add(work / ".gitignore", ".gitignore")
    target.write_file("/tmp/team-git.tar", packed.getvalue())
    target.exec(["tar", "-C", "/etc/nginx", "-xf", "/tmp/team-git.tar"], check=True)


def test_without_a_repository_there_is_no_record() -> None:
    assert team_baseline(parse_facts((DATA / "facts-healthy.txt").read_text())) is None


@pytest.mark.docker
def test_check_names_a_change_against_the_teams_last_commit_and_the_undo_restores_it(
    harness_target: Target, tmp_path: Path
) -> None:
    target = harness_target
    _commit_etc_nginx(target, tmp_path)
    committed = target.exec(["cat", SITE], check=True).stdout
    # Control: the working tree equals HEAD. Healthy, the record named, nothing to undo.
    healthy = examine(target)
    assert healthy.cause == HEALTHY, healthy.summary
    assert any("known good: the last commit of the git checkout of /etc/nginx" in e for e in healthy.evidence)
    assert (
        "changed since the last commit of the git checkout of /etc/nginx: nothing the doctor looks at"
        in healthy.evidence
    )
    assert plan_undo(healthy) == ([], [])
    # An ignored key that is not committed is no change either.
    target.write_file("/etc/nginx/site.key", b"secret\n")
    assert not any("site.key" in e for e in examine(target).evidence)
    # The breaking change: the site's root edited on the server, never committed.
    target.exec(["sed", "-i", "s#root /var/www/html;#root /srv/nowhere;#", SITE], check=True)
    target.exec(["nginx", "-s", "reload"], check=True)
    broken = examine(target, ("the probe: HTTP 404",), (Request(),))
    assert broken.cause != HEALTHY
    assert any(SITE in e and "changed" in e for e in broken.evidence), broken.evidence
    undos, _ = plan_undo(broken)
    assert [u.subject for u in undos] == [SITE], [u.line() for u in undos]
    assert "since the last commit of the git checkout of /etc/nginx (" in undos[0].reason
    # check itself changed nothing: the repair is the undo a drill or a person applies.
    assert "/srv/nowhere" in target.exec(["cat", SITE], check=True).stdout
    apply(target, broken, undos)
    assert target.exec(["cat", SITE], check=True).stdout == committed
    assert examine(target).cause == HEALTHY
    assert target.exec(["cat", "/etc/nginx/site.key"], check=True).stdout == "secret\n"  # never touched


def test_etckeepers_repository_gives_nginx_as_last_committed_and_names_itself(tmp_path: Path) -> None:
    facts = parse_facts((DATA / "facts-healthy.txt").read_text())
    etc = tmp_path / "etc"
    (etc / "nginx").mkdir(parents=True)
    (etc / "nginx" / "nginx.conf").write_bytes(facts.config.raw["/etc/nginx/nginx.conf"] + b"# committed\n")
    (etc / "hostname").write_text("web1\n")
    _git(etc, "init", "-q")
    _git(etc, "add", "-A")
    _git(etc, "commit", "-q", "-m", "daily autocommit")
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as archive:
        archive.add(etc / ".git", "etc/.git")
    section = ("etcgit", (base64.b64encode(packed.getvalue()).decode(),))
    baseline = team_baseline(dataclasses.replace(facts, sections=(*facts.sections, section)))
    assert baseline is not None and baseline.known_good.startswith("etckeeper's last commit (")
    assert baseline.config.raw["/etc/nginx/nginx.conf"].endswith(b"# committed\n")
    assert "/etc/nginx/hostname" not in baseline.config.files  # only what is under nginx/ in /etc's repository
    # Files git never had are ones that appeared since the commit: the site the distribution ships is one here.
    assert "/etc/nginx/sites-available/default" not in baseline.config.files
