"""The `harness` command: one module per subcommand, exit codes in one place.

Exit codes: 0 passed, 1 a verdict failed (a finding about the server),
2 bad input, 3 the harness itself failed, 130 interrupted.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.text import Text

from harness import __version__
from harness.errors import HarnessError, ImageBuildError, InvalidInput
from harness.signals import sigterm_as_interrupt

if TYPE_CHECKING:
    from harness.site import Site

PASSED = 0
VERDICT_FAILED = 1
BAD_INPUT = 2
HARNESS_ERROR = 3
INTERRUPTED = 130

stderr = Console(stderr=True, highlight=False)
# Wide enough for the catalogue table when stdout is a file or a CI log, where rich would assume 80.
LOG_WIDTH = 140


def stdout() -> Console:
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(width=LOG_WIDTH)


def _verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """-v before or after the subcommand: harness's own debug lines, never urllib3's or docker's."""
    if value:
        logging.getLogger("harness").setLevel(logging.DEBUG)


# Every command takes -v, so `harness drill X -v` works as well as `harness -v drill X`.
VERBOSE = click.option(
    "-v",
    "--verbose",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_verbose,
    help="Log what harness does, step by step.",
)


class _Command(click.Command):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        VERBOSE(self)


class _Group(click.Group):
    command_class = _Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        VERBOSE(self)


_Group.group_class = _Group

# Each command's module and its one-line help: `harness --help` lists them without importing any (and with them
# the Docker SDK); a command's module is imported when that command runs. tests/test_cli.py keeps this in step.
COMMANDS = {
    "check": ("harness.cli.check", "Probe CONTAINER's port 80 and run the doctor in it; change nothing."),
    "drill": ("harness.cli.drill", "Break a fresh target with SCENARIO, then detect, diagnose, repair and verify it."),
    "gameday": (
        "harness.cli.gameday",
        "Rehearse an outage: a hidden fault, a live dashboard, notes, hints, and a postmortem draft.",
    ),
    "history": (
        "harness.cli.history",
        "Show past runs per scenario and fix: verdict, time to detect, time to recover.",
    ),
    "image": (
        "harness.cli.image",
        "Make sure the target image exists (first use builds it) and say which base it uses.",
    ),
    "init": (
        "harness.cli.init",
        "Write a site tree for `--site DIR`: a commented example, or a running server's configuration and content.",
    ),
    "list": (
        "harness.cli.listing",
        "List the scenarios, with the symptom each shows and the cause a diagnosis must name.",
    ),
    "site": ("harness.cli.site", "Show the probes a drill of DIR makes: what each expects, why, and at what pace."),
    "soak": (
        "harness.cli.soak",
        "Run COUNT drills of random scenarios back to back; report failures, leaks and memory over time.",
    ),
    "report": (
        "harness.cli.report",
        "Write the resilience report: one HTML page, a Markdown summary and the JSON they are drawn from.",
    ),
    "sweep": ("harness.cli.sweep", "Remove orphans: harness containers whose owning process is gone."),
    "verify-fix": (
        "harness.cli.verify_fix",
        "Break a fresh target with SCENARIO, run FIX in it as root, and judge the fix.",
    ),
}


class _LazyGroup(_Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0])  # its decorator registers it on this group
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, about) for name, (_, about) in sorted(COMMANDS.items())])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="harness", message="%(prog)s %(version)s")
def cli() -> None:
    """Chaos drills for nginx: break a throwaway server, detect, diagnose, repair, measure."""


def _site(ctx: click.Context, param: click.Parameter, value: str | None) -> Site | None:
    if value is None:
        return None
    from harness.site import load_site

    return load_site(value, progress)


# --site DIR on every command that starts targets: a team's own nginx configuration instead of the test server.
SITE = click.option(
    "--site",
    "site",
    metavar="DIR",
    default=None,
    callback=_site,
    help="Drill your own nginx: a configuration tree as under /etc/nginx (see `harness init`).",
)


JOURNAL = click.option(
    "--journal",
    type=click.Path(dir_okay=True, path_type=Path),
    default=None,
    help="Also write a Chaos Toolkit journal to PATH (with several scenarios, PATH is a folder of SCENARIO.json).",
)


def progress(line: str) -> None:
    """Progress goes to stderr, unwrapped, so stdout stays clean for --json."""
    # Text, not markup: progress carries what servers, fixes and people wrote ("[emerg]" must survive).
    stderr.print(Text(line, style="dim"), highlight=False, soft_wrap=True)


def _fail(message: str) -> None:
    stderr.print(Text.assemble(("harness:", "bold red"), " ", message), soft_wrap=True)


def _one_line(exc: click.ClickException) -> str:
    """click's error as one line that says where to look, instead of its usage block."""
    message = " ".join(exc.format_message().split())
    if "(see " in message:
        return message
    context = getattr(exc, "ctx", None)
    where = f"`{context.command_path} --help`" if context is not None else "`harness --help`"
    return f"{message} (see {where})"


def _logging() -> None:
    # Library noise (urllib3, docker) stays at warnings; -v lowers only harness's own loggers.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def _without_ssh_transport() -> None:
    """Spare this process paramiko (about 130 ms of start-up) unless the engine is reached over ssh://.

    The Docker SDK imports it at start-up only to offer ssh:// engines, and
    skips that transport when the import fails. Done in harness's own
    process only, never in a library user's.
    """
    if not os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
        sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]


def _wants_json(argv: list[str]) -> bool:
    """Whether the command line asks for JSON on stdout (--json, before any `--` that ends the options)."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


def _error_json(code: int, exc: BaseException, message: str) -> None:
    """What happened, as JSON on stdout, when a command asked for JSON ends on bad input or harness trouble:
    CI that reads stdout gets a document, not nothing (schema error/1, harness/schemas/error.json)."""
    import json

    from harness.schemas import schema_id

    notes = [line for note in getattr(exc, "__notes__", []) for line in str(note).splitlines()]
    if isinstance(exc, ImageBuildError):
        notes += exc.log_tail
    document: dict[str, Any] = {
        "schema": schema_id("error"),
        "passed": False,
        "exit_code": code,
        "error": {
            "kind": "bad-input" if code == BAD_INPUT else "harness-error",
            "type": type(exc).__name__,
            "message": message,
            "notes": notes,
        },
    }
    details = getattr(exc, "json_details", None)  # an error that knows more in figures (the probes it waited on)
    if isinstance(details, dict):
        document["error"]["details"] = details
    click.echo(json.dumps(document, indent=2))


def main(argv: list[str] | None = None) -> None:
    _logging()
    _without_ssh_transport()
    wants_json = _wants_json(sys.argv[1:] if argv is None else argv)

    try:
        # SIGTERM takes the Ctrl-C path, so a stopped job still removes its targets and temp files.
        with sigterm_as_interrupt():
            code = cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        # click turns KeyboardInterrupt into Abort; the drill's partial result rides on the cause.
        cause = exc.__cause__ if isinstance(exc, click.exceptions.Abort) else exc
        if type(cause).__name__ == "DrillInterrupted":  # not imported here: only a drill raises it
            _fail("interrupted; the target was removed")
        else:
            _fail("interrupted")
        code = INTERRUPTED
    except click.ClickException as exc:
        _fail(_one_line(exc))
        code = BAD_INPUT
        if wants_json:
            _error_json(code, exc, _one_line(exc))
    except InvalidInput as exc:
        _fail(str(exc))
        code = BAD_INPUT
        if wants_json:
            _error_json(code, exc, str(exc))
    except ImageBuildError as exc:
        _fail(str(exc))
        stderr.print(exc.details(), highlight=False, markup=False)
        code = HARNESS_ERROR
        if wants_json:
            _error_json(code, exc, str(exc))
    except HarnessError as exc:
        _fail(str(exc))
        code = HARNESS_ERROR
        if wants_json:
            _error_json(code, exc, str(exc))
    sys.exit(code if isinstance(code, int) else PASSED)
