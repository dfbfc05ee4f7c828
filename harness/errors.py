"""Every exception harness raises on purpose, in one tree.

A finding about the server ("port 80 did not recover") is never an exception:
it is a verdict in a drill's Result. Exceptions mean the harness itself could
not do its job, and the CLI maps each branch to its own exit code::

    HarnessError
    ├── InvalidInput              bad input from a user: exit 2
    │   ├── UnknownScenario
    │   └── InvalidSetting
    ├── EngineUnavailable         no Docker engine answers
    ├── ImageError                the target image cannot be had
    │   └── ImageBuildError
    ├── PluginError               a scenario plugin is broken
    ├── TargetError               the target container misbehaves
    │   ├── TargetGone
    │   ├── TargetNotReady
    │   ├── NotOurTarget
    │   └── CommandFailed
    ├── RemedyError               a repair step failed or there is none
    └── DeadlineExceeded          a wait hit its deadline

Third-party exceptions (docker SDK, requests) are translated where they are
caught, with ``raise ... from exc``; none of them reach users.
"""

from __future__ import annotations

import difflib


class HarnessError(Exception):
    """Root of everything harness raises deliberately."""


class InvalidInput(HarnessError):
    """The user asked for something that cannot be done as asked."""


class UnknownScenario(InvalidInput):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        listing = ", ".join(known) if known else "none are installed"
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        super().__init__(f"unknown scenario {name!r}{guess} (known scenarios: {listing})")


class InvalidSetting(InvalidInput):
    """An environment variable or option holds a value harness cannot use."""


class EngineUnavailable(HarnessError):
    """No Docker engine answers, or it went away."""


class ImageError(HarnessError):
    """The target image cannot be found, pulled or bootstrapped."""


class ImageBuildError(ImageError):
    def __init__(self, step: str, reason: str, log_tail: list[str]) -> None:
        self.step = step
        self.reason = reason
        self.log_tail = log_tail
        super().__init__(f"image build failed at {step or 'the first step'}: {reason}")

    def details(self) -> str:
        return "\n".join(["last lines of the build log:", *("  " + line for line in self.log_tail)])


class PluginError(InvalidInput):
    """A scenario plugin cannot be loaded or does not honour the interface (the user's to fix: bad input)."""

    def __init__(self, name: str, distribution: str, reason: str) -> None:
        self.name = name
        self.distribution = distribution
        self.reason = reason
        super().__init__(
            f"scenario plugin {name!r} from {distribution} is broken: {reason}; fix or uninstall {distribution}"
        )


class TargetError(HarnessError):
    """The target container did not behave as a container should."""


class TargetGone(TargetError):
    """The target container vanished under us."""


class TargetNotReady(TargetError):
    """A freshly started target never served its page."""


class NotOurTarget(TargetError):
    """Refusal to inject a fault into a container harness did not start."""


class CommandFailed(TargetError):
    def __init__(self, argv: list[str], exit_code: int, output: str) -> None:
        self.argv = argv
        self.exit_code = exit_code
        self.output = output
        tail = output.strip().splitlines()[-3:]
        said = f": {' | '.join(tail)}" if tail else ""
        super().__init__(f"{' '.join(argv)!s} exited {exit_code} in the target{said}")


class RemedyError(HarnessError):
    """The remedy for a diagnosis does not exist or one of its steps failed."""


class DeadlineExceeded(HarnessError):
    """A bounded wait ran out; the message says what was awaited."""
