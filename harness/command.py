"""A command run in a server, and what harness needs of a server to run one.

The doctor, the scenarios' choices and the remedies only run commands: they take any `Server` (a Target, or a
container someone else started), and need nothing else of the target's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from harness.errors import CommandFailed


@dataclass(frozen=True)
class ExecResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def timed_out(self) -> bool:
        return self.exit_code in (124, 137)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def check(self) -> ExecResult:
        if not self.ok:
            raise CommandFailed(list(self.argv), self.exit_code, self.output)
        return self


class Server(Protocol):
    """What the doctor needs of a server: a name and a way to run a command in it (a Target, or any container)."""

    @property
    def name(self) -> str: ...

    def exec(self, argv: list[str], *, timeout: float = ...) -> ExecResult: ...
