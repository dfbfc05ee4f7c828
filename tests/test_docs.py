"""The README and the docs/ site stay short, built, linked and true to the commands they show."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from harness.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
TEST_COMMAND = "bin/setup && .venv/bin/pytest -n 2"
DRILL_COMMAND = "bin/setup && .venv/bin/harness drill missing-symlink"


def test_the_readme_is_one_a_newcomer_finishes() -> None:
    assert len(README.read_text().splitlines()) < 250


def test_the_readme_opens_with_the_two_commands_and_ci_runs_its_test_command() -> None:
    first_block = _code_blocks(README.read_text(), ("sh",))[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == [DRILL_COMMAND, TEST_COMMAND]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert TEST_COMMAND in [line.strip() for line in ci]


def test_the_docs_build_strictly(tmp_path: Path) -> None:
    """A broken link, a nav entry without its page or a bad anchor fails the build, so it fails here (and in CI)."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_every_link_in_the_readme_resolves() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local, "the README links to the docs"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    """A page nobody links to is a page nobody reads; the engineers' pages join through mkdocs.yml's nav."""
    linked = set(re.findall(r"\]\(docs/([^)#]+)", README.read_text()))
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        assert page.name in linked or page.name in nav, f"docs/{page.name} is linked from neither README nor the nav"


def test_the_layout_page_is_generated_from_the_code() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bin" / "layout"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _code_blocks(text: str, kinds: tuple[str, ...]) -> list[str]:
    """The fenced blocks of a Markdown text whose info string is one of kinds."""
    blocks: list[str] = []
    kind: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("```"):
            if kind is None:
                kind, lines = line[3:].strip(), []
            else:
                if kind in kinds:
                    blocks.append("\n".join(lines))
                kind = None
        elif kind is not None:
            lines.append(line)
    return blocks


def _shown_commands(text: str) -> list[list[str]]:
    """Every `harness …` command line in the text's shell blocks, as argv after `harness`."""
    found = []
    for block in _code_blocks(text, ("", "sh", "console")):
        for line in block.splitlines():
            line = line.removeprefix("$ ").split("  #")[0].strip()
            if not re.match(r"^([A-Z_]+=\S+\s+)*(bin/setup && )?(\.venv/bin/)?harness\s", line):
                continue  # output, or another program
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                while words and "=" in words[0] and not words[0].startswith("-"):
                    words = words[1:]  # VAR=value before the command
                if words and words[0] in ("harness", ".venv/bin/harness"):
                    found.append(words[1:])
    return found


def _command(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The (sub)command an argv names, and the words left for it."""
    command: click.Command = cli
    while isinstance(command, click.Group) and argv and not argv[0].startswith("-"):
        ctx = click.Context(command)
        sub = command.get_command(ctx, argv[0])
        assert sub is not None, f"no command {argv[0]!r}"
        command, argv = sub, argv[1:]
    return command, argv


def _unknown_options(argv: list[str]) -> set[str]:
    command, rest = _command(argv)
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    return {word.split("=")[0] for word in rest if word.startswith("-")} - known


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_every_harness_command_shown_exists_with_its_options(page: Path) -> None:
    for argv in _shown_commands(page.read_text()):
        assert not _unknown_options(argv), f"{page.name}: `harness {' '.join(argv)}` uses {_unknown_options(argv)}"


def test_the_command_check_can_fail() -> None:
    """The check above reads what it should: an unknown option and an unknown command are both caught."""
    with pytest.raises(AssertionError):
        _command(["no-such-command"])
    assert _unknown_options(["gameday", "start", "--random", "--nope"]) == {"--nope"}
    shown = "```sh\nX=1 .venv/bin/harness drill a --json   # a comment\n```\n```\nharness: output\n```\n"
    assert _shown_commands(shown) == [["drill", "a", "--json"]]
