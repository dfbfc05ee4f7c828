"""nginx.conf's include of sites-enabled gets a typo (site-enabled) during a tidy-up: no site is loaded."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import NGINX_CONF, edit, reload


class IncludeTypo(Scenario):
    name = "include-typo"
    summary = "nginx.conf includes /etc/nginx/site-enabled/* (a typo for sites-enabled), nginx reloaded"
    symptom = Symptom.REFUSED
    cause = "include-matches-nothing"
    needs = ("site-link", "sites-include")

    def inject(self, target: Target) -> None:
        edit(target, NGINX_CONF, r"/etc/nginx/sites-enabled/", "/etc/nginx/site-enabled/")
        reload(target)

    def repair(self, target: Target) -> None:
        edit(target, NGINX_CONF, r"/etc/nginx/site-enabled/", "/etc/nginx/sites-enabled/")
        reload(target)
