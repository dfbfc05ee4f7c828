"""How reading a --site tree grows with its configuration: time and peak memory for 2, 20 and 70 MB.

    .venv/bin/python bench/site_size.py [--sizes 2 20 70]

Each tree is one server whose location includes a blocklist of `deny` lines (the shape of a large real
configuration). Each size is read in a fresh process, as `harness list --site DIR` reads it (the doctor reads
the configuration it collects with the same parser); the figures are that process's wall time and peak RSS, and a
bare interpreter importing harness.site is the floor. No engine is needed.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path

READ = """
import resource, sys, time
started = time.monotonic()
from harness.site import load_site
if sys.argv[1] != "-":
    load_site(sys.argv[1])
print(time.monotonic() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def make_tree(root: Path, megabytes: float) -> None:
    (root / "conf.d").mkdir(parents=True)
    (root / "conf.d" / "site.conf").write_text(
        "server {\n    listen 80 default_server;\n    server_name big.example;\n    root /srv/big;\n"
        "    location / {\n        include /etc/nginx/blocklist.conf;\n    }\n}\n"
    )
    rng = random.Random(1)
    wanted = int(megabytes * 2**20)
    with open(root / "blocklist.conf", "w") as out:
        written = 0
        while written < wanted:
            line = f"deny {rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24;\n"
            out.write(line)
            written += len(line)


def measure(folder: str) -> tuple[float, float]:
    done = subprocess.run([sys.executable, "-c", READ, folder], capture_output=True, text=True, check=True)
    seconds, kilobytes = done.stdout.split()
    return float(seconds), int(kilobytes) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[2, 20, 70])
    options = parser.parse_args()
    floor_s, floor_mb = measure("-")
    print(f"{'config':>8} {'directives':>11} {'time':>8} {'peak RSS':>9} {'RSS above floor per config MB':>30}")
    print(f"{'(none)':>8} {'':>11} {floor_s:7.2f}s {floor_mb:8.0f}M")
    with tempfile.TemporaryDirectory(prefix="harness-bench-site-") as scratch:
        for size in options.sizes:
            tree = Path(scratch) / f"{size:g}mb"
            make_tree(tree, size)
            lines = (tree / "blocklist.conf").read_bytes().count(b"\n")
            seconds, megabytes = measure(str(tree))
            per = (megabytes - floor_mb) / size
            print(f"{size:7g}M {lines:11d} {seconds:7.2f}s {megabytes:8.0f}M {per:29.1f}x")


if __name__ == "__main__":
    main()
