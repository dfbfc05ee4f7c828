"""Running the `harness` command as a user would, and looking for what it left."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema

import docker
from harness import ownership, schemas
from harness.catalogue import Catalogue
from harness.scenario import Scenario
from harness.session import Session
from harness.symptom import Symptom
from harness.target import Target


def fresh_run_id(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def harness_env(**extra: str) -> dict[str, str]:
    # Only the results store survives: a test's settings are its own, but its results go to the throwaway store.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_") or k == "HARNESS_RESULTS"}
    env.update(extra)
    return env


def run_harness(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=harness_env(**env),
        stdin=subprocess.DEVNULL,
    )


def containers_of_run(run_id: str) -> list[str]:
    client = docker.from_env()
    try:
        found = client.containers.list(
            all=True, ignore_removed=True, filters={"label": [f"{ownership.MANAGED}=true", f"{ownership.RUN}={run_id}"]}
        )
        return [c.name for c in found]
    finally:
        client.close()


def stderr_lines(proc: subprocess.Popen[str], timeout: float) -> Iterator[str]:
    """Yield a child's stderr lines as they come; fail once `timeout` s have passed in all, rather than hang.

    Reads the pipe's descriptor directly, bypassing the file object's buffer, so `proc.communicate()`
    afterwards gets whatever was not read here. A partial line already read here is dropped.
    """
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while True:
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace") + "\n"
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise AssertionError(f"the child's stderr did not give the awaited line within {timeout:g} s")
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                return
            pending += chunk


def validated(output: str, name: str) -> dict[str, Any]:
    """A `--json` output, checked against the schema the package publishes for it."""
    document = json.loads(output)
    if name != "error" and document.get("schema") == schemas.schema_id("error"):
        # The command ended exit 2/3: its own message says why, a schema error on the wrong document would not.
        jsonschema.validate(document, schemas.load("error"))
        error = document["error"]
        raise AssertionError(f"{error['type']}: {error['message']}\n" + "\n".join(error["notes"]))
    jsonschema.validate(document, schemas.load(name))
    assert document["schema"] == schemas.schema_id(name)
    return dict(document)


def single_drill(output: str) -> dict[str, Any]:
    """The one result of `harness drill SCENARIO --json` (the same shape as several: a list of results)."""
    document = validated(output, "drill")
    assert len(document["results"]) == 1, document["accuracy"]
    return dict(document["results"][0])


def installed_package(root: Path, dist: str, module: str, source: str, entry_points: str) -> Path:
    """A package laid out the way pip leaves one (a module and a .dist-info with entry_points.txt) under ROOT.

    Put ROOT on PYTHONPATH and the package's entry points are found like any installed plugin's.
    """
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    return root


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[bytes]]]:
    """A stand-in OTLP/HTTP collector on 127.0.0.1: its endpoint, and the bodies it received."""
    received: list[bytes] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


# -- plugin code is guarded everywhere -------------------------------------------------------------------


class CrashingScenario(Scenario):
    name = "crashes"
    summary = "a plugin with a bug"
    symptom = Symptom.REFUSED
    cause = "site-not-enabled"

    def inject(self, target: Target) -> None:
        raise ValueError("bad plugin value")

    def repair(self, target: Target) -> None:
        pass


def with_catalogue(session: Session, *scenarios: type[Scenario]) -> None:
    session._catalogue = Catalogue({s.name: s for s in scenarios}, ())
