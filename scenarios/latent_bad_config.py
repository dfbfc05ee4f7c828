"""The same broken config, only reloaded: port 80 stays green, the next restart is an outage.

nginx refuses to load a config that fails its test and keeps serving the old
one, while the deploy pipeline only warns. Every probe is ok. This is what a
post-deployment validation step exists for: the doctor must still flag it.
"""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._deploy import deploy_broken_site, redeploy_previous
from scenarios._edit import short


class LatentBadConfig(Scenario):
    name = "latent-bad-config"
    summary = "deploy-nginx-config ships the site with a missing semicolon and only reloads nginx"
    symptom = Symptom.LATENT
    cause = "latent-config-invalid"
    needs = ("site-link", "listen-80")

    def describe(self, target: Target) -> str:
        site = short(target.choice.site_file)
        return f"deploy-nginx-config ships {site} with a missing semicolon and only reloads nginx"

    def inject(self, target: Target) -> None:
        deploy_broken_site(target, "--reload").check()  # the pipeline warns and reports success

    def repair(self, target: Target) -> None:
        redeploy_previous(target, "--reload")
