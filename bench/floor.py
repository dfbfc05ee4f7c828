"""The floor: the missing-symlink drill with nothing but the docker SDK and requests.

start, steady, inject, detect, diagnose, repair, verify, teardown, as directly
as it can be written. harness is measured against this. Prints one JSON line.

    python bench/floor.py IMAGE
"""

from __future__ import annotations

import json
import sys
import time

import requests

import docker

INTERVAL, STREAK, MARKER = 0.05, 3, "harness-target-page-v1"


def ok(url: str) -> bool:
    try:
        reply = requests.get(url, timeout=1, headers={"Connection": "close"})
        return reply.status_code == 200 and MARKER in reply.text
    except requests.RequestException:
        return False


def streak(url: str, want: bool, deadline: float = 20.0) -> float:
    """Poll until STREAK samples in a row are ok (or failing); the time of the first of them."""
    first, count, end = 0.0, 0, time.monotonic() + deadline
    while time.monotonic() < end:
        sent = time.monotonic()
        if ok(url) == want:
            first, count = (first if count else sent), count + 1
            if count == STREAK:
                return first
        else:
            count = 0
        time.sleep(INTERVAL)
    raise SystemExit(f"floor: no {STREAK} {'good' if want else 'failing'} samples within {deadline} s")


def main(image: str) -> None:
    began = time.monotonic()
    client = docker.from_env()
    container = client.containers.run(
        image, detach=True, ports={"80/tcp": ("127.0.0.1", None)}, labels={"harness.bench": "floor"}
    )
    try:
        container.reload()
        url = f"http://127.0.0.1:{container.ports['80/tcp'][0]['HostPort']}/"
        streak(url, True)
        injected = time.monotonic()
        container.exec_run(["sh", "-c", "rm /etc/nginx/sites-enabled/default && service nginx restart"])
        detected = streak(url, False)
        listing = container.exec_run(["ls", "/etc/nginx/sites-enabled"]).output.decode()
        assert "default" not in listing, "floor: the site is still enabled; nothing to repair"
        container.exec_run(
            ["sh", "-c", "ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/ && service nginx reload"]
        )
        recovered = streak(url, True)
    finally:
        container.remove(force=True)
        client.close()
    print(
        json.dumps(
            {
                "time_to_detect_s": detected - injected,
                "time_to_recover_s": recovered - injected,
                "wall_s": time.monotonic() - began,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
