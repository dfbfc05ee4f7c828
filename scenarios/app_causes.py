"""Cause units for the test server's own application (the app behind /app/, deployed with deploy-app).

This is what a team ships for its own stack: the doctor's core knows nothing
of this app. The units add their own sections to the collection script (the
app's service, its release and its logs), recognise an app that is down or a
release that crashes, repair them with the team's own tools, and rule the
app's noisy log out when the app is in fact answering.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from harness.causes import Cause, Context, Finding
from harness.command import ExecResult
from harness.errors import RemedyError
from harness.target import Target
from harness.units import required, serving, wait

if TYPE_CHECKING:
    from harness.doctor import Diagnosis
    from harness.facts import Facts

APP_URL = "http://127.0.0.1:9000/"
WAIT_APP_ANSWERS = f"until curl -sf -o /dev/null -m 1 {APP_URL}; do sleep 0.1; done"
# On a team's tree (--site) the test server's app is not part of the site, whatever port its upstreams use.
COLLECT = r"""s app;         service app status >/dev/null 2>&1; echo "exit=$?"
               [ -e /etc/init.d/app ] && [ ! -e /etc/harness-site ] || printf 'installed\tno\n'
               printf 'current\t%s\n' "$(readlink /opt/app/current 2>/dev/null)"
s app-deploys; tail -n 5 /var/log/app/deploys.log 2>/dev/null || true
s app-log;     tail -n 20 /var/log/app/app.log 2>/dev/null || true
s app-answers; command -v curl >/dev/null && curl -s -o /dev/null -m 1 -w '%{http_code}\n' http://127.0.0.1:9000/
"""
_DEPLOYED = re.compile(r"deployed (?P<release>\S+) \(previous (?P<previous>[^)\s]+)\)")
_DECOY = re.compile(r"error|exception|refused|timed out|traceback|fatal", re.IGNORECASE)
APP_CAUSES = ("app-release-crashing", "app-not-running")


def installed(facts: Facts) -> bool:
    return bool(facts.section("app")) and "installed\tno" not in facts.section("app")


def running(facts: Facts) -> bool:
    return "exit=0" in facts.section("app")


def release(facts: Facts) -> str:
    return next((line.split("\t", 1)[1] for line in facts.section("app") if line.startswith("current\t")), "")


def previous_release(facts: Facts) -> str | None:
    """The release the last deploy replaced, from the deploy history."""
    for line in reversed(facts.section("app-deploys")):
        found = _DEPLOYED.search(line)
        if found:
            return None if found["previous"] == "none" else found["previous"]
    return None


def _seen(ctx: Context) -> str:
    """What failed, in the words of what was seen (never a code nobody saw)."""
    broken = [step for _, step in ctx.broken("upstream")]
    if broken:
        return f"requests proxied to the app fail ({broken[0].detail})"
    failing = [(url, code) for url, code in ctx.facts.local_status if code != "200"]
    if failing:
        return "inside the server: " + ", ".join(f"{'no answer' if c == '000' else c} from {u}" for u, c in failing)
    return "requests to the app fail"


def proxied(facts: Facts) -> bool:
    """Whether this server's configuration sends requests to the app at all (someone else's site may not)."""
    from harness.semantics import upstream_of

    return any(upstream_of(location, facts.config) == APP_URL for _, location in facts.config.all_locations())


def _app_down(ctx: Context) -> tuple[str, str] | None:
    facts = ctx.facts
    if not serving(facts) or not installed(facts) or running(facts) or not facts.nginx_listens_on(80):
        return None
    if not proxied(facts):
        return None
    log = facts.section("app-log")
    crash = next((line for line in reversed(log) if "Error" in line or "Traceback" in line), "")
    previous = previous_release(facts)
    if previous is not None:
        return "app-release-crashing", (
            f"{_seen(ctx)}: the app release {release(facts) or '?'} deployed last does not stay up"
            f"{f' ({crash.strip()})' if crash else ''}; {previous} ran before it"
        )
    return "app-not-running", f"{_seen(ctx)}: the app behind it is not running"


def _crashing(ctx: Context) -> Finding | None:
    found = _app_down(ctx)
    return Finding(found[1]) if found and found[0] == "app-release-crashing" else None


def _not_running(ctx: Context) -> Finding | None:
    found = _app_down(ctx)
    return Finding(found[1]) if found and found[0] == "app-not-running" else None


def _roll_back_app(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    previous = previous_release(diagnosis.facts)
    if previous is None:
        raise RemedyError("the deploy history names no previous release to roll back to")
    steps = [required(target.exec(["deploy-app", previous]), f"rolling back to {previous} failed")]
    steps.append(wait(target, WAIT_APP_ANSWERS, f"the app did not answer on {previous}"))
    return steps


def _start_app(target: Target, diagnosis: Diagnosis) -> list[ExecResult]:
    steps = [required(target.exec(["service", "app", "start"]), "the app did not start")]
    steps.append(wait(target, WAIT_APP_ANSWERS, "the app did not answer"))
    return steps


def set_aside(ctx: Context, cause: str) -> list[str]:
    """The app's alarming log lines and a recent deploy do not explain CAUSE when the app answers inside."""
    facts = ctx.facts
    if cause in APP_CAUSES or not installed(facts):
        return []
    if facts.section("app-answers") != ("200",):
        return []
    answering = [APP_URL]
    notes = []
    errors = [line for line in facts.section("app-log") if _DECOY.search(line)]
    if errors:
        notes.append(
            f"ruled out: {len(errors)} alarming lines in /var/log/app/app.log (last: {errors[-1].strip()[:120]}); "
            f"the app answers on {answering[0]}, so they do not explain {cause}"
        )
    deploys = facts.section("app-deploys")
    if deploys and "previous none" not in deploys[-1]:
        notes.append(f"ruled out: the recent app deploy ({deploys[-1]}); the app answers on {answering[0]}")
    return notes


APP_RELEASE_CRASHING = Cause(
    "app-release-crashing",
    _crashing,
    order=160,
    area="upstream",
    measures=("Gate app deploys on a health check, and roll back automatically when it fails.",),
    remedy=_roll_back_app,
    collect=COLLECT,
    set_aside=set_aside,
)
APP_NOT_RUNNING = Cause(
    "app-not-running",
    _not_running,
    order=161,
    area="upstream",
    measures=("Supervise the app and alert when the upstream behind /app/ is down.",),
    remedy=_start_app,
)
