"""Every user-facing input, malformed: one clear line and the bad-input exit code, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import BAD_INPUT
from harness.cli.gameday import parse_duration
from harness.config import Settings
from harness.errors import InvalidInput, InvalidSetting
from harness.fix import Fix
from harness.history import ResultStore, Run
from tests.helpers import run_harness

SETTINGS = [
    "HARNESS_PROBE_INTERVAL",
    "HARNESS_PROBE_TIMEOUT",
    "HARNESS_READY_TIMEOUT",
    "HARNESS_PHASE_TIMEOUT",
    "HARNESS_RUN_ID",
    "HARNESS_DOCKER_DIR",
    "HARNESS_RESULTS",
]


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(SETTINGS), value=st.text(st.characters(exclude_characters="\x00"), max_size=40))
def test_any_setting_value_is_accepted_or_refused_in_one_line(name: str, value: str) -> None:
    try:
        Settings.from_env({name: value})
    except InvalidSetting as exc:
        assert "\n" not in str(exc) and name in str(exc)


@given(text=st.text(max_size=20))
def test_any_duration_parses_or_is_a_usage_error(text: str) -> None:
    try:
        assert parse_duration(text) > 0
    except click.BadParameter as exc:
        assert "is not a duration" in exc.format_message() or "is not a positive duration" in exc.format_message()


@pytest.mark.parametrize("text", ["0", "0s", "0m", "0.0h"])
def test_a_zero_duration_is_refused(text: str) -> None:
    with pytest.raises(click.BadParameter, match="not a positive duration"):
        parse_duration(text)


@settings(max_examples=100, deadline=None)
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".sh", ".pp", "", ".txt"]))
def test_any_fix_file_loads_or_is_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, content: bytes, suffix: str
) -> None:
    path = tmp_path_factory.mktemp("fix") / f"fix{suffix}"
    path.write_bytes(content)
    try:
        fix = Fix.load(path)
        assert fix.content == content and content.strip()
    except InvalidInput as exc:
        assert "\n" not in str(exc)


@settings(max_examples=50, deadline=None)
@given(garbage=st.binary(min_size=1, max_size=2000))
def test_a_corrupted_results_store_is_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, garbage: bytes
) -> None:
    path = tmp_path_factory.mktemp("store") / "results.sqlite"
    path.write_bytes(garbage)
    store = ResultStore(path)
    try:
        store.append(Run("drill", "x", "recovered", True, 0.1, 0.2, 0.3))
        assert store.runs()[-1].scenario == "x"  # garbage SQLite happens to accept: it must then work
    except InvalidInput as exc:
        assert "\n" not in str(exc) and "results store" in str(exc)
    except sqlite3.Error as exc:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"a raw sqlite3 error escaped: {exc!r}")


@pytest.mark.parametrize(
    "args",
    [
        ("drill", "missing-symlink", "--interval", "fast"),
        ("drill", "missing-symlink", "--jobs", "0"),
        ("drill", "missing-symlink", "--streak", "-1"),
        ("drill", "missing-symlink", "--timeout", "0"),
        ("drill", "--all", "--fail-if-slower", "lots"),
        ("drill", "no-such-scenario"),
        ("verify-fix", "missing-symlink"),
        ("verify-fix", "missing-symlink", "/nonexistent/fix.sh"),
        ("history", "--kind", "party"),
        ("gameday", "start", "--time-limit", "tomorrow", "missing-symlink"),
        ("soak", "zero"),
        ("no-such-command",),
        ("drill", "--no-such-option"),
    ],
)
def test_malformed_arguments_are_one_line_of_bad_input(args: tuple[str, ...]) -> None:
    done = run_harness(*args)
    assert done.returncode == BAD_INPUT, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: "), done.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("HARNESS_PROBE_INTERVAL", "-3"), ("HARNESS_RUN_ID", "Not A Label!"), ("HARNESS_DOCKER_DIR", "/nonexistent")],
)
def test_malformed_environment_is_one_line_of_bad_input(name: str, value: str, tmp_path: Path) -> None:
    done = run_harness("drill", "missing-symlink", **{name: value})
    assert done.returncode == BAD_INPUT
    assert len(done.stderr.strip().splitlines()) == 1 and name in done.stderr
