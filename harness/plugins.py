"""Loading an entry-point group of plugins: each validated, a broken one named with its package, the rest kept."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TypeVar

from harness.errors import PluginError

T = TypeVar("T")
OWN_DISTRIBUTION = "nginx-harness"  # harness's own package: its built-in scenarios and units


def distribution(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def load_group(
    group: str,
    validate: Callable[[object, str], T],
    what: str,
    entries: list[EntryPoint] | None = None,
) -> tuple[dict[str, T], list[PluginError]]:
    """Every entry point of GROUP, validated; WHAT names the kind ("scenario plugin", "cause unit") in errors."""
    found: dict[str, T] = {}
    broken: list[PluginError] = []
    for entry in entries if entries is not None else list(entry_points(group=group)):
        if entry.name in found:
            broken.append(plugin_error(what, entry.name, distribution(entry), f"another {what} already uses this name"))
            continue
        try:
            found[entry.name] = validate(entry.load(), entry.name)
        except Exception as exc:  # a plugin may raise anything at import; report it, keep the rest
            reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            broken.append(plugin_error(what, entry.name, distribution(entry), reason))
    return found, broken


def plugin_error(what: str, name: str, dist: str, reason: str) -> PluginError:
    error = PluginError(name, dist, reason)
    error.args = (f"{what} {name!r} from {dist} is broken: {reason}; fix or uninstall {dist}",)
    return error
