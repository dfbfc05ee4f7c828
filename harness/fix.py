"""Someone's fix for an outage: a shell script or a Puppet manifest, run as root inside a target.

A fix never runs on the host. It is uploaded into the target and run there
under a deadline, with its output going to a file inside the target rather
than through the exec stream: a fix that leaves a daemon behind (as starting
nginx by hand does) would otherwise hold the stream open, and a fix that
prints megabytes would otherwise be read whole. Only a capped head and tail
of that file come back.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness.errors import InvalidInput
from harness.target import Target

MAX_FIX_BYTES = 1024 * 1024
DEFAULT_FIX_TIMEOUT = 60.0
OUTPUT_CAP = 16 * 1024  # bytes of a fix's output kept for the report, head and tail
FIX_DIR = "/root/harness-fix"
OUTPUT_FILE = f"{FIX_DIR}/output"
_CUT = "@@harness-output-cut"


class FixKind(StrEnum):
    SCRIPT = "script"  # bash, or whatever its shebang names
    PUPPET = "puppet"  # a manifest for `puppet apply`

    @property
    def image_variant(self) -> str | None:
        return "puppet" if self is FixKind.PUPPET else None


@dataclass(frozen=True)
class Fix:
    path: Path
    kind: FixKind
    content: bytes
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def remote_path(self) -> str:
        return f"{FIX_DIR}/fix.pp" if self.kind is FixKind.PUPPET else f"{FIX_DIR}/fix"

    @property
    def shebang(self) -> bool:
        return self.content.startswith(b"#!")

    def argv(self) -> list[str]:
        if self.kind is FixKind.PUPPET:
            # --detailed-exitcodes: plain `puppet apply` exits 0 even when resources fail.
            return ["puppet", "apply", "--detailed-exitcodes", "--color=false", self.remote_path]
        return [self.remote_path] if self.shebang else ["bash", self.remote_path]

    @classmethod
    def load(cls, path: str | Path) -> Fix:
        """Read a fix file, or say in one line why it cannot be used."""
        file = Path(path)
        hint = "give the path of a shell script or a Puppet manifest (.pp)"
        if not file.exists():
            raise InvalidInput(f"fix {str(path)!r} does not exist; {hint}")
        if file.is_dir():
            raise InvalidInput(f"fix {str(path)!r} is a directory; {hint}")
        if not file.is_file():
            raise InvalidInput(f"fix {str(path)!r} is not a regular file; {hint}")
        try:
            size = file.stat().st_size
            if size > MAX_FIX_BYTES:
                raise InvalidInput(
                    f"fix {str(path)!r} is {size / 1e6:.1f} MB; a fix is a script of at most "
                    f"{MAX_FIX_BYTES // 1024} KiB"
                )
            content = file.read_bytes()
        except PermissionError:
            raise InvalidInput(f"fix {str(path)!r} cannot be read (permission denied); make it readable") from None
        except OSError as exc:
            raise InvalidInput(f"fix {str(path)!r} cannot be read: {exc.strerror or exc}") from None
        if not content.strip():
            raise InvalidInput(f"fix {str(path)!r} is empty; {hint}")
        if b"\0" in content:
            raise InvalidInput(f"fix {str(path)!r} is a binary file, not a script; {hint}")
        kind = FixKind.PUPPET if file.suffix == ".pp" else FixKind.SCRIPT
        _refuse_crlf(file, content)
        if kind is FixKind.SCRIPT:
            _check_shell_syntax(file, content)
        return cls(file, kind, content, hashlib.sha256(content).hexdigest())


def _refuse_crlf(file: Path, content: bytes) -> None:
    """A script saved on Windows fails in the target with a baffling "not found"; say so before anything starts."""
    if b"\r\n" in content:
        line = content[: content.index(b"\r\n")].count(b"\n") + 1
        raise InvalidInput(
            f"fix {str(file)!r} has Windows line endings (CRLF) from line {line}; "
            f"convert it first: sed -i 's/\\r$//' {file}"
        )


# Shells whose -n parses a script without running any of it.
_PARSING_SHELLS = {"bash": "bash", "sh": "sh", "dash": "sh"}


def _check_shell_syntax(file: Path, content: bytes) -> None:
    """Parse (never run) a shell fix here, so a syntax error costs no target; other interpreters are not checked."""
    shell = "bash"
    if content.startswith(b"#!"):
        words = content[2 : content.find(b"\n")].decode(errors="replace").split()
        name = words[0].rsplit("/", 1)[-1] if words else ""
        if name == "env" and len(words) > 1:
            name = words[1]
        shell = _PARSING_SHELLS.get(name, "")
    program = shutil.which(shell) if shell else None
    if program is None:
        return
    try:
        done = subprocess.run(
            [program, "-n"],
            input=content,
            capture_output=True,
            timeout=10,
            env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return  # no verdict from the parser: the run in the target will tell
    if done.returncode != 0:
        said = " ".join(done.stderr.decode(errors="replace").split())
        # "bash: line 3: syntax error ..." names the line; say it with the file's name instead of the shell's.
        said = said.split(": ", 1)[1] if said.split(": ", 1)[0].rsplit("/", 1)[-1] in ("bash", "sh") else said
        raise InvalidInput(
            f"fix {str(file)!r} has a shell syntax error ({shell} -n): {said}; fix it, then verify again"
        )


@dataclass(frozen=True)
class FixRun:
    """One run of a fix in one target."""

    where: str  # which server it ran on, e.g. "the broken server (first run)"
    exit_code: int
    output: str  # capped: head and tail, with a marker where bytes were cut
    output_bytes: int
    duration: float
    timed_out: bool
    deadline: float
    puppet: bool = False

    @property
    def succeeded(self) -> bool:
        # Puppet's detailed exit codes: 2 means "changes applied", 4 and 6 mean failures.
        return self.exit_code == 0 or (self.puppet and self.exit_code == 2)

    @property
    def changed(self) -> bool | None:
        """Whether a Puppet run changed anything (None for scripts, which do not say)."""
        return self.exit_code in (2, 6) if self.puppet else None

    @property
    def truncated(self) -> bool:
        return self.output_bytes > len(self.output.encode())

    def describe(self) -> str:
        if self.timed_out:
            return f"timed out after {self.deadline:g} s and was killed"
        return f"exited {self.exit_code} in {self.duration:.2f} s"

    def output_tail(self, lines: int = 5) -> str:
        kept = [line for line in self.output.splitlines() if line.strip()]
        return " | ".join(kept[-lines:]) if kept else "(no output)"


def run_fix(target: Target, fix: Fix, where: str, timeout: float = DEFAULT_FIX_TIMEOUT) -> FixRun:
    """Upload FIX into TARGET and run it as root, killed at TIMEOUT."""
    target.exec(["mkdir", "-p", "-m", "0700", FIX_DIR], check=True)
    target.write_file(fix.remote_path, fix.content, mode=0o755)
    # The fix's argv travels as arguments to a constant script, never as shell text.
    script = f'cd /root && exec "$@" >{OUTPUT_FILE} 2>&1 </dev/null'
    result = target.exec(["sh", "-c", script, "sh", *fix.argv()], timeout=timeout)
    timed_out = result.timed_out and result.duration >= timeout - 0.5
    output, size = _read_output(target)
    return FixRun(
        where=where,
        exit_code=result.exit_code,
        output=output,
        output_bytes=size,
        duration=result.duration,
        timed_out=timed_out,
        deadline=timeout,
        puppet=fix.kind is FixKind.PUPPET,
    )


def _read_output(target: Target, cap: int = OUTPUT_CAP) -> tuple[str, int]:
    half = cap // 2
    script = (
        'f="$1"; n=$(stat -c %s "$f" 2>/dev/null || echo 0); echo "$n"; '
        f'if [ "$n" -le {cap} ]; then cat "$f"; else head -c {half} "$f"; echo; echo {_CUT}; tail -c {half} "$f"; fi'
    )
    result = target.exec(["sh", "-c", script, "sh", OUTPUT_FILE], timeout=10)
    first, _, rest = result.stdout.partition("\n")
    size = int(first) if first.strip().isdigit() else len(rest.encode())
    if _CUT in rest:
        head, _, tail = rest.partition(f"\n{_CUT}\n")
        rest = f"{head}\n[... {size - 2 * half} bytes of output cut ...]\n{tail}"
    return rest, size
