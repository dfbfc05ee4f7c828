"""index.html was copied in by root with mode 0600: the worker user may not read it, and / answers 403."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target


class IndexUnreadable(Scenario):
    name = "index-unreadable"
    summary = "index.html left as 0600 root:root after a manual copy; the workers cannot read it"
    symptom = Symptom.HTTP_4XX
    cause = "web-root-unreadable"
    needs = ("root", "static-index")

    def describe(self, target: Target) -> str:
        page = _page(target)
        return f"{page} left as 0600 root:root after a manual copy; the workers cannot read it"

    def inject(self, target: Target) -> None:
        target.exec(["chmod", "0600", _page(target)], check=True)

    def repair(self, target: Target) -> None:
        target.exec(["chmod", "0644", _page(target)], check=True)


def _page(target: Target) -> str:
    """The page nginx reads itself for a probe (an alias's file, a root's index)."""
    choice = target.choice
    return choice.file or f"{choice.root}/{choice.index}"
