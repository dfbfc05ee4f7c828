"""Shared by scenarios that change a configuration file the way a hurried person would: one edit, then reload."""

from __future__ import annotations

import re

from harness.target import Target

SITE = "/etc/nginx/sites-available/default"
NGINX_CONF = "/etc/nginx/nginx.conf"


def edit(target: Target, path: str, pattern: str, replacement: str, count: int = 0) -> None:
    """Replace PATTERN (a regex) in PATH; a file without it is a scenario that cannot apply, said plainly."""
    before = target.read_file(path)
    after = re.sub(pattern, replacement, before, count=count)
    if after == before:
        raise ValueError(f"{path} has nothing matching {pattern!r} to change")
    target.write_file(path, after)


def reload(target: Target) -> None:
    target.exec(["nginx", "-s", "reload"], check=True)
