"""The site is moved to port 8080 "for testing", and reloaded: nothing serves port 80 any more."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.target import Target
from scenarios._edit import edit, reload


class Listen8080(Scenario):
    name = "listen-8080"
    summary = "sites-available/default edited to listen on 8080 instead of 80, nginx reloaded"
    symptom = Symptom.REFUSED
    cause = "site-listens-elsewhere"
    needs = ("site-link", "listen-80")

    def inject(self, target: Target) -> None:
        edit(target, target.choice.site_file, r"listen (\[::\]:)?80\b", r"listen \g<1>8080")
        reload(target)

    def repair(self, target: Target) -> None:
        edit(target, target.choice.site_file, r"listen (\[::\]:)?8080\b", r"listen \g<1>80")
        reload(target)
