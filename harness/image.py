"""Build, or find in the cache, the image every target runs.

The Dockerfile in docker/ builds on ubuntu:24.04. Where that base cannot be
pulled (no registry), a Debian bookworm base with the same packages is
bootstrapped with mmdebstrap and imported, and the same Dockerfile builds on
it. Images are tagged by a hash of docker/ and the requested base, so any
change under docker/ makes a new image and an unchanged one is never rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config import Settings
from harness.engine import Trouble, boundary, tolerate, unavailable
from harness.errors import ImageBuildError, ImageError
from harness.paths import default_docker_dir

if TYPE_CHECKING:
    from docker.models.images import Image

    import docker

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

REPOSITORY = "harness-target"
LOCAL_BASE_REPOSITORY = "harness-base"
LOCAL_BASE_SUITE = "bookworm"
LABEL_CONTEXT = "harness.image.context"
LABEL_BASE = "harness.image.base"
LABEL_BASE_NOTE = "harness.image.base-note"
BOOTSTRAP_TIMEOUT = 900


@dataclass(frozen=True)
class TargetImage:
    tag: str
    base: str
    base_note: str
    cached: bool

    def describe(self) -> str:
        how = "cached" if self.cached else "built"
        return f"{self.tag} ({how}; base {self.base}{'; ' + self.base_note if self.base_note else ''})"


def context_digest(folder: Path, base: str) -> str:
    """Hash of every file under the build folder (path, mode, bytes) and the requested base."""
    digest = hashlib.sha256(f"base={base}\n".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        executable = os.access(path, os.X_OK)
        digest.update(f"{rel}\0{int(executable)}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def package_list(folder: Path) -> list[str]:
    lines = (folder / "packages.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@contextmanager
def _build_lock(cache_dir: Path) -> Iterator[None]:
    """One build at a time per machine: parallel test workers share the result."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "image.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _find(client: docker.DockerClient, ref: str) -> Image | None:
    with boundary("preparing the image", every=unavailable), tolerate(Trouble.MISSING):
        return client.images.get(ref)
    return None


def ensure_image(
    client: docker.DockerClient, settings: Settings, progress: Progress = log.info, rebuild: bool = False
) -> TargetImage:
    """The tag of a ready target image, building it (and its base) on first use."""
    folder = settings.docker_dir or default_docker_dir()
    tag = f"{REPOSITORY}:{context_digest(folder, settings.base_image)}"
    with _build_lock(settings.cache_dir):
        found = _find(client, tag)
        if found is not None and not rebuild:
            labels = found.labels or {}
            return TargetImage(tag, labels.get(LABEL_BASE, "?"), labels.get(LABEL_BASE_NOTE, ""), cached=True)
        base, note = _resolve_base(client, settings, folder, progress)
        progress(f"building {tag} on {base}")
        _build(client, folder, tag, base, note, progress)
        if found is not None:
            _drop_replaced(client, found)
        return TargetImage(tag, base, note, cached=False)


def ensure_variant(
    client: docker.DockerClient, settings: Settings, base: TargetImage, variant: str, progress: Progress = log.info
) -> TargetImage:
    """The target image with extras from docker/VARIANT/Dockerfile on top (e.g. Puppet), built once."""
    folder = (settings.docker_dir or default_docker_dir()) / variant
    if not (folder / "Dockerfile").is_file():
        raise ImageError(f"there is no image variant {variant!r}: {folder}/Dockerfile is missing")
    tag = f"{REPOSITORY}-{variant}:{context_digest(folder, base.tag)}"
    with _build_lock(settings.cache_dir):
        if _find(client, tag) is not None:
            return TargetImage(tag, base.tag, base.base_note, cached=True)
        progress(f"building the {variant} variant {tag} on {base.tag} (once)")
        _build(client, folder, tag, base.tag, base.base_note, progress)
        return TargetImage(tag, base.tag, base.base_note, cached=False)


def _drop_replaced(client: docker.DockerClient, old: Image) -> None:
    """A rebuild leaves the old image untagged; remove it unless a container still uses it."""
    current = _find(client, old.tags[0]) if old.tags else None
    if current is not None and current.id == old.id:
        return
    with tolerate() as removal:
        client.images.remove(str(old.id))
    if removal.trouble is not None:
        log.debug("kept the replaced image %s: %s", old.short_id, removal.error)


def _resolve_base(client: docker.DockerClient, settings: Settings, folder: Path, progress: Progress) -> tuple[str, str]:
    wanted = settings.base_image
    if _find(client, wanted) is not None:
        return wanted, ""
    progress(f"pulling {wanted}")
    # The engine not answering is no registry trouble: no fallback helps then.
    with boundary("pulling the base", every=unavailable), tolerate(*set(Trouble) - {Trouble.UNAVAILABLE}) as pull:
        client.images.pull(wanted)
    if pull.error is None:
        return wanted, ""
    reason = _pull_reason(pull.error)
    local = ensure_local_base(client, settings, folder, progress)
    note = f"{wanted} could not be pulled ({reason}); used local Debian {LOCAL_BASE_SUITE} base {local}"
    progress(note)
    return local, note


def _pull_reason(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc)
    if "no such host" in text or "dial tcp" in text or "connection refused" in text:
        return "registry unreachable"
    if "not found" in text or "manifest unknown" in text:
        return "not found in the registry"
    return _first_line(text)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no reason given"
    return line if len(line) <= 160 else line[:157] + "..."


def ensure_local_base(client: docker.DockerClient, settings: Settings, folder: Path, progress: Progress) -> str:
    """A Debian base with the target's packages, bootstrapped without any registry."""
    packages = package_list(folder)
    key = hashlib.sha256(("\n".join([LOCAL_BASE_SUITE, settings.debian_mirror, *packages])).encode()).hexdigest()[:12]
    tag = f"{LOCAL_BASE_REPOSITORY}:{LOCAL_BASE_SUITE}-{key}"
    if _find(client, tag) is not None:
        return tag
    if shutil.which("mmdebstrap") is None:
        raise ImageError(
            f"cannot pull {settings.base_image} and mmdebstrap is not installed to bootstrap a local base; "
            "run `apt-get install mmdebstrap` or make a registry reachable"
        )
    with tempfile.TemporaryDirectory(prefix="harness-base-") as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        argv = [
            "mmdebstrap",
            "--variant=minbase",
            "--include=" + ",".join(packages),
            '--aptopt=Apt::Install-Recommends "false"',
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            LOCAL_BASE_SUITE,
            str(rootfs),
            *([settings.debian_mirror] if settings.debian_mirror else []),
        ]
        progress(f"bootstrapping local base {tag} with mmdebstrap (about 30 s, once)")
        _run_bootstrap(argv, progress)
        progress(f"importing {tag}")
        with boundary("importing the base", every=lambda exc, doing: ImageError(f"{doing} failed: {exc}")):
            client.api.import_image(
                src=str(rootfs),
                repository=LOCAL_BASE_REPOSITORY,
                tag=tag.split(":", 1)[1],
                changes=['CMD ["/bin/bash"]', "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            )
    if _find(client, tag) is None:
        raise ImageError(f"the engine did not keep the imported base {tag}")
    return tag


def _run_bootstrap(argv: list[str], progress: Progress) -> None:
    tail: deque[str] = deque(maxlen=15)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            if line.startswith("I: "):
                progress("mmdebstrap: " + line[3:])
        code = proc.wait(timeout=BOOTSTRAP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise ImageBuildError("mmdebstrap (local base bootstrap)", f"exit code {code}", list(tail))


def _build(client: docker.DockerClient, folder: Path, tag: str, base: str, note: str, progress: Progress) -> None:
    tail: deque[str] = deque(maxlen=20)
    step = ""
    labels = {LABEL_CONTEXT: tag.split(":", 1)[1], LABEL_BASE: base, LABEL_BASE_NOTE: note}

    def failed(exc: BaseException, doing: str) -> Exception:
        return ImageBuildError(step, _first_line(str(exc)), list(tail))

    with boundary("building the image", {Trouble.UNAVAILABLE: unavailable}, every=failed):
        stream = client.api.build(
            path=str(folder), tag=tag, buildargs={"BASE": base}, labels=labels, rm=True, forcerm=True, decode=True
        )
        for chunk in stream:
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise ImageBuildError(step, _first_line(detail), list(tail))
            for line in str(chunk.get("stream", "")).splitlines():
                if not line.strip():
                    continue
                tail.append(line)
                if line.startswith("Step "):
                    step = line
                    progress(line)
    if _find(client, tag) is None:
        raise ImageBuildError(step, "the build ended without producing the image", list(tail))
