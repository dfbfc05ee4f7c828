"""Shell programs the doctor runs inside a server, shipped as package files and read once."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def script(name: str) -> str:
    """The text of the shell program NAME (a file in this package): a constant, never built from input."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")
