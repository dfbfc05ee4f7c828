"""Scenarios written in YAML, for the people who run game days and do not write Python.

A file declares what a Python scenario declares (name, summary, symptom,
cause, capabilities, needs) and its steps: commands run as root in the
target, as argv lists (`run`) or shell scripts (`script`), each with a
timeout. `{{ site_name }}`-style placeholders take the site's choice (see
harness.choice): the same file breaks the test server or a team's site.
The format's JSON Schema ships as harness/schemas/scenario.json.

YAML and jsonschema are imported only when a file is read, so that start-up
does not pay for them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness import schemas
from harness.errors import HarnessError, InvalidInput
from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target

if TYPE_CHECKING:
    from yaml import Node

    from harness.choice import Choice

SUFFIXES = (".yaml", ".yml")
DEFAULT_TIMEOUT = 30.0
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
ENVIRONMENT = "HARNESS_SCENARIOS"  # folders of scenario files, separated by os.pathsep


def is_file_name(name: str) -> bool:
    """Whether a scenario argument names a file rather than a catalogue entry."""
    return name.endswith(SUFFIXES) or "/" in name or os.sep in name


def folders(environ: dict[str, str] | None = None) -> list[Path]:
    raw = (os.environ if environ is None else environ).get(ENVIRONMENT, "")
    return [Path(part) for part in raw.split(os.pathsep) if part.strip()]


def files_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InvalidInput(f"{ENVIRONMENT}: {folder} is not a folder; name folders of scenario .yaml files")
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())


@dataclass(frozen=True)
class Step:
    argv: tuple[str, ...] = ()
    script: str = ""
    timeout: float = DEFAULT_TIMEOUT
    check: bool = True
    user: str = "root"
    where: str = ""  # file:line, for messages

    def command(self, choice: Choice) -> list[str]:
        def fill(text: str) -> str:
            return filled(text, choice, self.where)

        if self.script:
            return ["sh", "-e", "-c", fill(self.script)]
        return [fill(part) for part in self.argv]

    def run(self, target: Target, scenario: str, what: str) -> None:
        argv = self.command(target.choice)
        result = target.exec(argv, timeout=self.timeout, user=self.user)
        shown = self.script.strip().splitlines()[0] if self.script else " ".join(argv)
        if result.timed_out:
            raise HarnessError(
                f"{what} of {scenario} ({self.where}): `{shown}` did not finish within {self.timeout:g} s"
            )
        if self.check and not result.ok:
            last = result.output.strip().splitlines()[-1:] or ["no output"]
            raise HarnessError(
                f"{what} of {scenario} ({self.where}): `{shown}` exited {result.exit_code}: {last[0]}"
                " (set `check: false` on a step whose failure is expected)"
            )


def filled(text: str, choice: Choice, where: str) -> str:
    """TEXT with each {{ placeholder }} made the value CHOICE has for it on this server."""
    values = {name: str(getattr(choice, name)) for name in placeholders()}

    def one(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if not value:
            raise InvalidInput(
                f"{where}: {{{{ {match.group(1)} }}}} is empty here: this server has no such thing; "
                "declare it under `needs` so that harness says so before starting"
            )
        return value

    return PLACEHOLDER.sub(one, text)


def placeholders() -> tuple[str, ...]:
    from harness.choice import PLACEHOLDERS  # here: listing the catalogue needs no site model

    return PLACEHOLDERS


class FileScenario(Scenario):
    """A scenario read from a YAML file; each file becomes a subclass carrying its steps."""

    source: ClassVar[Path]
    decoys: ClassVar[tuple[Step, ...]] = ()
    injection: ClassVar[tuple[Step, ...]] = ()
    reference_repair: ClassVar[tuple[Step, ...]] = ()

    def describe(self, target: Target) -> str:
        return filled(self.summary, target.choice, str(self.source))

    def inject(self, target: Target) -> None:
        for step in self.decoys:
            step.run(target, self.name, "a decoy")
        for step in self.injection:
            step.run(target, self.name, "the injection")

    def repair(self, target: Target) -> None:
        if not self.reference_repair:
            raise HarnessError(f"scenario {self.name} ({self.source}) declares no reference repair (`repair:` steps)")
        for step in self.reference_repair:
            step.run(target, self.name, "the reference repair")


def _line(node: Node | None, path: Sequence[str | int]) -> int:
    """The 1-based line of the value at PATH in the composed YAML (the deepest part that exists)."""
    from yaml import MappingNode, SequenceNode

    line = node.start_mark.line + 1 if node is not None else 1
    for part in path:
        if isinstance(node, MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == part), None)
            if found is None:
                break
            node = found[1]
            line = found[0].start_mark.line + 1
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _key(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the file"


def _parse(path: Path) -> tuple[Any, Node | None]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"scenario file {path} does not exist; give the path of a .yaml scenario") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"scenario file {path} cannot be read: {exc}") from None
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"scenario file {where}: not valid YAML: {problem}") from None


def _steps(path: Path, node: Node | None, data: dict[str, Any], key: str) -> tuple[Step, ...]:
    known = placeholders()
    steps = []
    for number, raw in enumerate(data.get(key, [])):
        where = f"{path}:{_line(node, [key, number])}"
        texts = [raw["script"]] if "script" in raw else list(raw["run"])
        for text in texts:
            for name in PLACEHOLDER.findall(text):
                if name not in known:
                    raise InvalidInput(
                        f"scenario file {where}: {key}[{number}]: unknown placeholder {{{{ {name} }}}}; "
                        f"known: {', '.join(known)}"
                    )
        steps.append(
            Step(
                argv=tuple(raw.get("run", ())),
                script=raw.get("script", ""),
                timeout=float(raw.get("timeout", DEFAULT_TIMEOUT)),
                check=bool(raw.get("check", True)),
                user=raw.get("user", "root"),
                where=where,
            )
        )
    return tuple(steps)


def _unknown_key(instance: dict[str, Any], schema: dict[str, Any]) -> tuple[str, str]:
    """The first key the format does not know, and what to say of it (with the nearest known key)."""
    import difflib

    known = list(schema.get("properties", {}))
    key = next(str(k) for k in instance if k not in known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    guess = f"; did you mean {close[0]!r}?" if close else f" (known keys: {', '.join(known)})"
    return f"unknown key {key!r}{guess}", key


def _check_cause(path: Path, node: Node | None, data: dict[str, Any]) -> None:
    """A cause the doctor cannot name is a typo, unless the file says it is new (a unit of its own is coming)."""
    import difflib

    from harness.causes import registry

    cause, known = data["cause"], [c.id for c in registry().causes]
    if cause in known or data.get("new_cause") is True:
        return
    close = difflib.get_close_matches(cause, known, n=1, cutoff=0.6)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    raise InvalidInput(
        f"scenario file {path}:{_line(node, ['cause'])}: cause: {cause!r} is not a cause harness knows{guess} "
        "(`harness list` shows each scenario's cause; a cause of your own, that a cause unit of yours names, "
        "is declared with `new_cause: true`)"
    )


def load_file(path: Path | str) -> type[FileScenario]:
    """The scenario in PATH, or InvalidInput naming the file, the line and the key of what is wrong."""
    import jsonschema

    path = Path(path)
    data, node = _parse(path)
    validator = jsonschema.Draft202012Validator(schemas.load("scenario"))
    errors = list(validator.iter_errors(data))
    # A misspelt key explains the rest (a required key that then seems missing): it goes first, on its own line.
    typos = [e for e in errors if e.validator == "additionalProperties" and isinstance(e.instance, dict)]
    error = typos[0] if typos else jsonschema.exceptions.best_match(errors)
    if error is not None:
        where: list[str | int] = list(error.absolute_path)
        message = error.message
        if error in typos:
            message, key = _unknown_key(error.instance, error.schema)
            where.append(key)
        raise InvalidInput(
            f"scenario file {path}:{_line(node, where)}: {_key(where)}: {message} "
            "(the format: harness/schemas/scenario.json, and the example in docs/scenarios.md)"
        )
    _check_cause(path, node, data)
    summary_names = [n for n in PLACEHOLDER.findall(data["summary"]) if n not in placeholders()]
    if summary_names:
        raise InvalidInput(
            f"scenario file {path}:{_line(node, ['summary'])}: summary: unknown placeholder "
            f"{{{{ {summary_names[0]} }}}}; known: {', '.join(placeholders())}"
        )
    attributes = {
        "__doc__": data["summary"],
        "name": data["name"],
        "summary": data["summary"],
        "symptom": Symptom(data["symptom"]),
        "cause": data["cause"],
        "capabilities": tuple(data.get("capabilities", ())),
        "needs": tuple(data.get("needs", ())),
        "source": path.resolve(),
        "decoys": _steps(path, node, data, "decoys"),
        "injection": _steps(path, node, data, "inject"),
        "reference_repair": _steps(path, node, data, "repair"),
    }
    return type(f"FileScenario[{data['name']}]", (FileScenario,), attributes)
