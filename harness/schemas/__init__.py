"""JSON Schemas of every `--json` output, published with the package.

Each output carries `"schema": "<name>/<version>"`; the schema of that
output is `harness/schemas/<name>.json` (its `$id` ends in the same
name/version). A change that breaks readers raises the version.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

VERSIONS = {
    "drill": 2,
    "verify-fix": 2,
    "check": 2,
    "list": 2,
    "history": 2,
    "soak": 2,
    "gameday-status": 2,
    "gameday-report": 2,
    "report": 1,
    "error": 1,
}


def schema_id(name: str) -> str:
    """The value of the `schema` field in output NAME, e.g. "drill/2"."""
    return f"{name}/{VERSIONS[name]}"


@cache
def load(name: str) -> dict[str, Any]:
    """The JSON Schema of output NAME."""
    return dict(json.loads(files(__name__).joinpath(f"{name}.json").read_text()))
