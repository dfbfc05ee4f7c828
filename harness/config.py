"""Settings read once from the environment into one frozen object."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InvalidSetting

DEFAULT_BASE_IMAGE = "ubuntu:24.04"
DEFAULT_RESULTS = Path(".harness") / "results.sqlite"  # project-local: relative to where harness runs
_RUN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _float(env: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidSetting(f"{name}={raw!r} is not a number; use e.g. {name}={default}") from None
    if not low <= value <= high:
        raise InvalidSetting(f"{name}={raw} is out of range; use a value from {low} to {high}")
    return value


def _cache_dir(env: dict[str, str]) -> Path:
    if env.get("HARNESS_CACHE_DIR"):
        return Path(env["HARNESS_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness"


@dataclass(frozen=True)
class Settings:
    """What harness may be told through the environment, validated up front.

    Every field has a HARNESS_* variable; see docs/settings.md.
    """

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    base_image: str = DEFAULT_BASE_IMAGE
    docker_dir: Path | None = None
    cache_dir: Path = field(default_factory=lambda: _cache_dir(dict(os.environ)))
    debian_mirror: str = ""
    probe_interval: float = 0.05
    probe_timeout: float = 1.0
    ready_timeout: float = 30.0
    phase_timeout: float = 20.0
    results: Path = DEFAULT_RESULTS

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        run_id = env.get("HARNESS_RUN_ID") or uuid.uuid4().hex[:12]
        if not _RUN_ID.fullmatch(run_id):
            raise InvalidSetting(
                f"HARNESS_RUN_ID={run_id!r} is not usable as a label; "
                "use lowercase letters, digits and dashes (at most 63)"
            )
        docker_dir = env.get("HARNESS_DOCKER_DIR")
        if docker_dir and not (Path(docker_dir) / "Dockerfile").is_file():
            raise InvalidSetting(f"HARNESS_DOCKER_DIR={docker_dir!r} has no Dockerfile; point it at a build folder")
        results = Path(env.get("HARNESS_RESULTS") or DEFAULT_RESULTS)
        if results.is_dir():
            raise InvalidSetting(
                f"HARNESS_RESULTS={str(results)!r} is a directory; name a file such as {results / 'results.sqlite'}"
            )
        return cls(
            results=results,
            run_id=run_id,
            base_image=env.get("HARNESS_BASE_IMAGE") or DEFAULT_BASE_IMAGE,
            docker_dir=Path(docker_dir) if docker_dir else None,
            cache_dir=_cache_dir(env),
            debian_mirror=env.get("HARNESS_DEBIAN_MIRROR", ""),
            probe_interval=_float(env, "HARNESS_PROBE_INTERVAL", 0.05, 0.005, 10.0),
            probe_timeout=_float(env, "HARNESS_PROBE_TIMEOUT", 1.0, 0.05, 30.0),
            ready_timeout=_float(env, "HARNESS_READY_TIMEOUT", 30.0, 1.0, 600.0),
            phase_timeout=_float(env, "HARNESS_PHASE_TIMEOUT", 20.0, 1.0, 600.0),
        )
