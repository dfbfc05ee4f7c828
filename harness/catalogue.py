"""The catalogue: every scenario harness can drill, from installed plugins and from YAML scenario files.

Apart from the Scenario interface, which plugins and scenario files both build on: the catalogue reads both, and
neither needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

from harness.errors import InvalidInput, PluginError, UnknownScenario
from harness.plugins import load_group
from harness.scenario import GROUP, Scenario, validate
from harness.scenario_file import files_in, is_file_name, load_file
from harness.scenario_file import folders as registered


@dataclass(frozen=True)
class Catalogue:
    scenarios: dict[str, type[Scenario]]
    broken: tuple[PluginError, ...]

    def names(self) -> list[str]:
        return sorted(self.scenarios)

    def get(self, name: str) -> Scenario:
        """The scenario called NAME, or the one in the YAML file NAME names (a path)."""
        if is_file_name(name):
            return load_file(name)()
        for problem in self.broken:
            if problem.name == name:
                raise problem
        try:
            return self.scenarios[name]()
        except KeyError:
            raise UnknownScenario(name, self.names()) from None


def load_catalogue(entries: list[EntryPoint] | None = None, folders: list[Path] | None = None) -> Catalogue:
    """Installed scenario plugins, and the YAML scenarios in FOLDERS (default: $HARNESS_SCENARIOS)."""
    found, broken = load_group(GROUP, validate, "scenario plugin", entries)
    for folder in registered() if folders is None else folders:
        for path in files_in(folder):
            try:
                loaded = load_file(path)
            except InvalidInput as exc:
                broken.append(_broken_file(path.stem, path, str(exc)))
                continue
            if loaded.name in found:
                clash = f"its name {loaded.name!r} is already taken by another scenario; rename it"
                broken.append(_broken_file(loaded.name, path, clash))
                continue
            found[loaded.name] = loaded
    return Catalogue(found, tuple(broken))


def _broken_file(name: str, path: Path, reason: str) -> PluginError:
    error = PluginError(name, str(path), reason)
    error.args = (reason if reason.startswith("scenario file") else f"scenario file {path} is broken: {reason}",)
    return error
