"""nginx's configuration syntax, read at the speed of a regular expression.

crossplane's lexer reads a character at a time in Python: a 2 MB blocklist took
17 s, a 68 MB one minutes and gigabytes. This reader gives the payload crossplane
gives (directive, line, args, block: see Statement), `if` arguments without their
parentheses, quotes removed, comments dropped) in one pass over the text, so
time and memory grow with the file and stay small. Files with Lua blocks, whose
bodies are not nginx syntax, are left to crossplane's own Lua lexer.
"""

from __future__ import annotations

import re
import sys
from typing import Any

# Order matters: a token starting with a quote is a quoted string, with `#` a comment; inside a word quotes and `#`
# are ordinary characters, `\x` is kept as written, and `${name}` does not open a block (as nginx and crossplane read).
_TOKEN = re.compile(
    r"""
    (\s*(?:\#[^\n]*\s*)*)                                   # what separates tokens (newlines counted)
    (?:
      ("(?:[^"\\]+|\\.)*"|'(?:[^'\\]+|\\.)*')              # quoted
    | ([;{}])                                                 # special
    | ((?:[^\s;{}\\$]+|\$\{[^}\s]*\}?|\$|\\.)+)            # word
    )?
    """,
    re.VERBOSE | re.DOTALL,
)


class Statement:
    """One directive as read: crossplane's payload entry in 72 bytes instead of a dict's 232 (millions in a
    blocklist). FILE is filled in by the reader that knows which file it came from."""

    __slots__ = ("args", "block", "directive", "file", "line")

    def __init__(
        self, directive: str, line: int, args: tuple[str, ...], block: list[Statement] | None = None, file: str = ""
    ) -> None:
        self.directive = directive
        self.line = line
        self.args = args
        self.block = block
        self.file = file

    @classmethod
    def from_crossplane(cls, entry: dict[str, Any]) -> Statement:
        block = entry.get("block")
        inner = [cls.from_crossplane(b) for b in block] if block is not None else None
        return cls(entry["directive"], int(entry.get("line") or 0), tuple(entry["args"]), inner)

    def payload(self) -> dict[str, Any]:
        """crossplane's shape, for comparing the two readers."""
        said: dict[str, Any] = {"directive": self.directive, "line": self.line, "args": list(self.args)}
        if self.block is not None:
            said["block"] = [s.payload() for s in self.block]
        return said


def needs_crossplane(text: str) -> bool:
    return "_by_lua_block" in text


def parse_text(text: str) -> tuple[list[Statement], list[tuple[str, int]]]:
    """The statements of one file, and its syntax errors as (message, line)."""
    root: list[Statement] = []
    stack = [root]
    errors: list[tuple[str, int]] = []
    name: str | None = None
    args: list[str] = []
    start = line = 1
    # One match at a time (findall would hold a tuple for every token of a blocklist at once).
    for match in _TOKEN.finditer(text):
        space, quoted, special, word = match.groups()
        if space:
            line += space.count("\n")
        if word or quoted:
            token = word or quoted[1:-1].replace("\\" + quoted[0], quoted[0])
            if name is None:
                name, args, start = sys.intern(token), [], line
            else:
                args.append(token)
            if quoted:
                line += quoted.count("\n")
            continue
        if not special:
            continue  # whitespace and comments to the end of the text
        token = special
        if token == "}":
            if name is not None:
                errors.append((f'directive "{name}" is not terminated by ";"', line))
                name = None
            if len(stack) == 1:
                errors.append(('unexpected "}"', line))
                return root, errors
            stack.pop()
            continue
        if name is None:
            errors.append((f'unexpected "{token}"', line))
            continue
        if name == "if":
            _if_args(args)
        statement = Statement(name, start, tuple(args), [] if token == "{" else None)
        stack[-1].append(statement)
        if statement.block is not None:
            stack.append(statement.block)
        name = None
    if name is not None:
        errors.append(('unexpected end of file, expecting ";" or "}"', line))
    elif len(stack) > 1:
        errors.append(('unexpected end of file, expecting "}"', line))
    return root, errors


def _if_args(args: list[str]) -> None:
    """`if ( $a = b )` as crossplane gives it: the parentheses removed (and arguments left empty by that)."""
    if args and args[0].startswith("(") and args[-1].endswith(")"):
        args[0] = args[0][1:].lstrip()
        args[-1] = args[-1][:-1].rstrip()
        args[:] = args[int(not args[0]) : len(args) - int(not args[-1])]
