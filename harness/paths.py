"""Where harness finds the files it ships (the image build folder)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def default_docker_dir() -> Path:
    """The image build folder: inside an installed wheel, else the source checkout's docker/."""
    for candidate in (_PACKAGE / "_docker", _PACKAGE.parent / "docker"):
        if (candidate / "Dockerfile").is_file():
            return candidate
    raise FileNotFoundError("harness cannot find its docker/ build folder; reinstall harness or set HARNESS_DOCKER_DIR")
