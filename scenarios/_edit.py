"""Shared by scenarios that change a configuration file the way a hurried person would: one edit, then reload."""

from __future__ import annotations

import re

from harness.route import Line
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


def swap(text: str, line: Line, old: str, new: str) -> str:
    """TEXT with OLD made NEW once on LINE's line (a whole token: `80` in `listen 80;`, never in `8080`)."""
    lines = text.split("\n")
    index = line.line - 1
    token = rf"(?<![\w.:\[\]-]){re.escape(old)}(?![\w.\]-]|:\d)"
    if not 0 <= index < len(lines) or not re.search(token, lines[index]):
        raise ValueError(f"{line} does not name {old!r} (the file changed since its configuration was read)")
    lines[index] = re.sub(token, new.replace("\\", "\\\\"), lines[index], count=1)
    return "\n".join(lines)


def swap_lines(target: Target, changes: list[tuple[Line, str, str]]) -> None:
    """Make each (line, old, new) change in its file: one read and one write per file."""
    for path in dict.fromkeys(line.file for line, _, _ in changes):
        text = target.read_file(path)
        for line, old, new in changes:
            if line.file == path:
                text = swap(text, line, old, new)
        target.write_file(path, text)


def with_port(address: str, port: int) -> str:
    """ADDRESS as written in a listen or upstream line (80, *:80, [::]:80, host:port, host) on PORT instead."""
    if address.isdigit():
        return str(port)
    if address.startswith("[") and "]:" not in address:
        return f"{address}:{port}"
    head, colon, tail = address.rpartition(":")
    if colon and tail.isdigit() and not head.endswith(":"):
        return f"{head}:{port}"
    return f"{address}:{port}"


def moved_socket(address: str) -> str:
    """unix:/run/php/fpm.sock as a copy-paste from another server would leave it: a socket nothing serves."""
    folder, slash, name = address.removeprefix("unix:").rpartition("/")
    return f"unix:{folder}{slash}old-{name}"


def short(path: str) -> str:
    """A configuration file as people name it: sites-available/x, conf.d/y.conf."""
    return path.removeprefix("/etc/nginx/")
