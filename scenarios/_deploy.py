"""Shared by the config-deploy scenarios: a broken site config shipped by the deploy tool."""

from __future__ import annotations

from harness.target import ExecResult, Target

SITE = "/etc/nginx/sites-available/default"
STAGED = "/tmp/default.new"
# The newest backup the deploy tool kept of the site file; a constant script, no input in it.
NEWEST_BACKUP = "ls -d /var/backups/nginx/2*/etc/nginx/sites-available/default | tail -n 1"


def deploy_broken_site(target: Target, mode: str) -> ExecResult:
    """Ship the site config with one missing semicolon, the commonest typo there is."""
    current = target.read_file(SITE)
    broken = current.replace("server_name _;", "server_name _", 1)
    if broken == current:
        raise ValueError(f"{SITE} has no 'server_name _;' line to break")
    target.write_file(STAGED, broken)
    return target.exec(["deploy-nginx-config", mode, STAGED, SITE])


def redeploy_previous(target: Target, mode: str) -> None:
    """The runbook: deploy the previous version again, through the same tool."""
    backup = target.exec(["sh", "-c", NEWEST_BACKUP], check=True).stdout.strip()
    target.exec(["cp", backup, STAGED], check=True)
    target.exec(["deploy-nginx-config", mode, STAGED, SITE], check=True)
