"""A deploy ships a config with a syntax error and restarts nginx: nginx is down.

The deploy tool backs up the file it replaces, as good pipelines do; the way
back is the last configuration that passed `nginx -t`.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._deploy import deploy_broken_site, redeploy_previous
from scenarios._edit import short


class BadConfigDeploy(Scenario):
    name = "bad-config-deploy"
    summary = "deploy-nginx-config ships the site with a missing semicolon and restarts nginx"
    symptom = Symptom.REFUSED
    cause = "config-invalid"
    needs = ("site-link", "listen-80")

    def describe(self, target: Target) -> str:
        site = short(target.choice.site_file)
        return f"deploy-nginx-config ships {site} with a missing semicolon and restarts nginx"

    def inject(self, target: Target) -> None:
        deploy_broken_site(target, "--restart")  # exits non-zero: nginx failed to start

    def repair(self, target: Target) -> None:
        redeploy_previous(target, "--restart")
