"""The Scenario interface and the registry that finds scenarios by entry point.

A scenario is a class registered in the `harness.scenarios` entry-point group
under its name. Built-in scenarios are registered exactly like third-party
ones. A plugin that fails to load or breaks the interface is reported with its
name and distribution, and the others still load.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, TypeVar

from harness.errors import HarnessError
from harness.symptom import Symptom
from harness.target import Target

T = TypeVar("T")
GROUP = "harness.scenarios"
_KEBAB = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


class Scenario(ABC):
    """One realistic way to break an nginx server, and the runbook fix for it."""

    name: ClassVar[str]
    summary: ClassVar[str]
    symptom: ClassVar[Symptom]
    cause: ClassVar[str]
    # Extra Linux capabilities the target needs for this fault (e.g. NET_ADMIN); none by default.
    capabilities: ClassVar[tuple[str, ...]] = ()
    # What it breaks, so a team's site (--site) can be checked for it first: see harness.choice.NEEDS.
    # A scenario reads its choice (which link, root, upstream) from `target.choice`.
    needs: ClassVar[tuple[str, ...]] = ()

    def describe(self, target: Target) -> str:
        """What this scenario breaks on TARGET, naming the site's own files and folders (its `summary` says it of
        harness's test server). Called just before `inject`."""
        return self.summary

    @abstractmethod
    def inject(self, target: Target) -> None:
        """Break the server for real; the probe must see the declared symptom."""

    @abstractmethod
    def repair(self, target: Target) -> None:
        """The reference fix an operator's runbook would apply."""


def call_plugin(scenario: str, what: str, call: Callable[..., T], *args: object) -> T:
    """Run code that is not harness's own (a scenario's inject, a repair): a crash in it is an error naming it.

    Every caller of plugin code (drill, verify-fix, game day) goes through here,
    so a plugin raising ValueError ends one run with a clear line, never a traceback.
    """
    try:
        return call(*args)
    except HarnessError:
        raise
    except Exception as exc:
        raise HarnessError(f"{what} for scenario {scenario!r} crashed: {type(exc).__name__}: {exc}") from exc


def validate(cls: object, entry_name: str) -> type[Scenario]:
    """Check a loaded object honours the interface; the message names the bad field."""
    if not (isinstance(cls, type) and issubclass(cls, Scenario)):
        raise ValueError(f"{cls!r} is not a subclass of harness.scenario.Scenario")
    for attribute in ("name", "summary", "symptom", "cause"):
        if not hasattr(cls, attribute):
            raise ValueError(f"it does not declare {attribute!r}")
    if cls.name != entry_name:
        raise ValueError(f"its name {cls.name!r} differs from its entry-point name {entry_name!r}")
    if not isinstance(cls.symptom, Symptom):
        raise ValueError(f"symptom {cls.symptom!r} is not one of: {', '.join(s.value for s in Symptom)}")
    if not (isinstance(cls.cause, str) and _KEBAB.fullmatch(cls.cause)):
        raise ValueError(f"cause {cls.cause!r} is not a kebab-case id such as 'site-not-enabled'")
    if cls.__abstractmethods__:
        raise ValueError(f"it does not implement {', '.join(sorted(cls.__abstractmethods__))}")
    return cls
