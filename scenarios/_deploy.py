"""Shared by the config-deploy scenarios: a broken site config shipped by the deploy tool."""

from __future__ import annotations

import re

from harness.command import ExecResult
from harness.target import Target

STAGED = "/tmp/site.new"
# The newest backup the deploy tool kept of the file named by $1 (an argument, never shell text).
NEWEST_BACKUP = 'ls -d /var/backups/nginx/2*"$1" | tail -n 1'
# A `listen` line losing its semicolon swallows the next directive: a syntax error whatever follows.
_LISTEN = re.compile(r"(\blisten[^;{}]*);")


def deploy_broken_site(target: Target, mode: str) -> ExecResult:
    """Ship the site config with one missing semicolon, the commonest typo there is."""
    SITE = target.choice.site_file
    current = target.read_file(SITE)
    lines = current.split("\n")
    # The line the model read as a listen, not the first match of a pattern (a commented-out `# listen 80;`).
    at = target.choice.listen_lines[0].line - 1 if target.choice.listen_lines else -1
    if not 0 <= at < len(lines) or not _LISTEN.search(lines[at]):
        raise ValueError(f"{SITE} has no 'listen' line to break")
    lines[at] = _LISTEN.sub(r"\1", lines[at], count=1)
    broken = "\n".join(lines)
    target.write_file(STAGED, broken)
    return target.exec(["deploy-nginx-config", mode, STAGED, SITE])


def redeploy_previous(target: Target, mode: str) -> None:
    """The runbook: deploy the previous version again, through the same tool."""
    SITE = target.choice.site_file
    backup = target.exec(["sh", "-c", NEWEST_BACKUP, "sh", SITE], check=True).stdout.strip()
    target.exec(["cp", backup, STAGED], check=True)
    target.exec(["deploy-nginx-config", mode, STAGED, SITE], check=True)
