"""The doctor on faults and configurations nobody here wrote: a plugin's own cause, controls, a foreign config."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import docker
from harness.cli import PASSED, VERDICT_FAILED
from harness.doctor import HEALTHY, examine
from harness.session import Session
from harness.target import Target
from tests.helpers import containers_of_run, fresh_run_id, installed_package, run_harness, single_drill, validated

DIST = "harness-acl-pack"
MODULE = """
from harness.causes import Cause, Finding
from harness.scenario import Scenario
from harness.symptom import Symptom
from harness.units import config_change

SITE = "/etc/nginx/sites-available/default"
FILTER = 'if ($http_user_agent ~* "(bot|crawler|probe)") { return 403; }'


class DenyAll(Scenario):
    name = "deny-all"
    summary = "a 'deny all;' left in location / after a maintenance window: 403 for everyone"
    symptom = Symptom.HTTP_4XX
    cause = "access-refused"  # a unit harness ships

    def inject(self, target):
        site = target.read_file(SITE).replace("location / {", "location / {\\n\\t\\tdeny all;", 1)
        target.write_file(SITE, site)
        target.exec(["nginx", "-s", "reload"], check=True)

    def repair(self, target):
        target.write_file(SITE, target.read_file(SITE).replace("\\t\\tdeny all;\\n", "", 1))
        target.exec(["nginx", "-s", "reload"], check=True)


class BotFilter(Scenario):
    name = "bot-filter"
    summary = "a bot filter added to location / matches the monitoring's User-Agent: 403 for the probe only"
    symptom = Symptom.HTTP_4XX
    cause = "user-agent-blocked"  # this pack's own unit

    def inject(self, target):
        site = target.read_file(SITE).replace("location / {", "location / {\\n\\t\\t" + FILTER, 1)
        target.write_file(SITE, site)
        target.exec(["nginx", "-s", "reload"], check=True)

    def repair(self, target):
        target.write_file(SITE, target.read_file(SITE).replace("\\t\\t" + FILTER + "\\n", "", 1))
        target.exec(["nginx", "-s", "reload"], check=True)


def _filters(facts):
    for path, text in facts.config.contents.items():
        for number, line in enumerate(text.splitlines(), 1):
            if "$http_user_agent" in line and "return 4" in line:
                yield path, number


def rule(ctx):
    if not any(t.request.symptom == "http-4xx" for t in ctx.traces):
        return None
    for path, number in _filters(ctx.facts):
        return Finding(f"a User-Agent filter answers 403 to some clients: {path}:{number}", (f"{path}:{number}",))
    return None


def remedy(target, diagnosis):
    steps = []
    for path, number in _filters(diagnosis.facts):
        with config_change(target, [path], steps):
            steps.append(target.exec(["sed", "-i", f"{number}s/^/# (lifted by harness) /", path], check=True))
        steps.append(target.exec(["nginx", "-s", "reload"], check=True))
        return steps
    return steps


USER_AGENT_BLOCKED = Cause(
    "user-agent-blocked",
    rule,
    order=126,
    area="config",
    measures=("Exempt the monitoring's User-Agent from bot filters; probe pages from outside after each reload.",),
    remedy=remedy,
)
BROKEN = Cause("broken-unit", rule, order=1, area="nowhere", measures=("x",))
"""


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    entry_points = """
        [harness.scenarios]
        deny-all = acl_pack:DenyAll
        bot-filter = acl_pack:BotFilter

        [harness.causes]
        user-agent-blocked = acl_pack:USER_AGENT_BLOCKED
        broken-unit = acl_pack:BROKEN
        """
    return installed_package(tmp_path_factory.mktemp("site-packages"), DIST, "acl_pack", MODULE, entry_points)


@pytest.mark.docker
def test_a_plugin_brings_its_own_cause_rule_and_remedy_and_drills_to_a_pass(pack: Path) -> None:
    run_id = fresh_run_id("acl")
    done = run_harness("drill", "bot-filter", "--json", PYTHONPATH=str(pack), HARNESS_RUN_ID=run_id)
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    diagnosis = result["observed"]["diagnosis"]
    assert result["passed"] and diagnosis["cause"] == "user-agent-blocked", diagnosis
    assert "sites-available/default" in diagnosis["summary"]
    assert containers_of_run(run_id) == []


@pytest.mark.docker
def test_a_deny_all_nobody_catalogued_is_named_by_the_rule_that_refuses_and_reverted(pack: Path) -> None:
    done = run_harness("drill", "deny-all", "--json", PYTHONPATH=str(pack))
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    diagnosis = result["observed"]["diagnosis"]
    assert result["passed"] and diagnosis["cause"] == "access-refused", diagnosis
    assert "`deny all` refuses every client" in diagnosis["summary"]
    assert "sites-available/default:" in diagnosis["summary"]  # the line that refuses
    steps = " ".join(" ".join(step["argv"]) for step in result["repair_steps"])
    assert "restored /etc/nginx/sites-available/default" in steps  # the change reverted, not the rule edited


def test_without_the_plugin_the_same_fault_is_unexplained_not_healthy_and_a_broken_unit_is_named(
    pack: Path,
) -> None:
    listed = json.loads(run_harness("list", "--json", PYTHONPATH=str(pack)).stdout)
    (broken,) = [b for b in listed["broken"] if b["name"] == "broken-unit"]
    assert broken["distribution"] == f"{DIST} 1.0" and "area 'nowhere'" in broken["reason"]


@pytest.mark.docker
def test_without_the_unit_the_doctor_says_unexplained_with_the_trace(harness_session: Session, pack: Path) -> None:
    import importlib
    import sys

    sys.path.insert(0, str(pack))
    try:
        scenario = importlib.import_module("acl_pack").BotFilter()
    finally:
        sys.path.remove(str(pack))
    from harness.drill import Drill

    result = Drill(harness_session, scenario).run()
    assert result.diagnosis is not None and result.diagnosis.cause == "unexplained"
    assert result.diagnosis.traces and "GET /" in result.diagnosis.summary
    assert result.duration < 15  # no remedy: it ends at once instead of waiting out the recovery timeout


# -- controls: nothing broken, nothing named --------------------------------------------------------


@pytest.mark.docker
def test_controls_decoys_a_killed_worker_and_a_reload_are_no_false_alarm(harness_target: Target) -> None:
    baseline = examine(harness_target)
    assert baseline.healthy, baseline.summary
    target = harness_target
    # Decoys: alarming log lines and a stray file that explains nothing.
    target.exec(["sh", "-c", "echo 'ERROR: connection pool exhausted' >> /var/log/app/app.log"], check=True)
    target.exec(["sh", "-c", "echo '2026/11/27 [error] 1#1: upstream timed out' >> /var/log/nginx/error.log"])
    target.write_file("/etc/nginx/sites-available/old-site.bak", "# kept for reference\n")
    after = examine(target, baseline=baseline.facts)
    assert after.cause == HEALTHY, after.summary
    assert any("old-site.bak" in line for line in after.evidence)  # what changed is shown, and set aside
    # One worker killed: the master starts another.
    workers = [p.pid for p in after.facts.nginx_processes if "worker process" in p.args]
    target.exec(["kill", "-KILL", str(workers[0])], check=True)
    time.sleep(0.5)
    assert examine(target, baseline=baseline.facts).cause == HEALTHY
    # A harmless reload.
    target.exec(["nginx", "-s", "reload"], check=True)
    time.sleep(0.3)
    assert examine(target, baseline=baseline.facts).cause == HEALTHY


# -- harness check on someone else's configuration ----------------------------------------------------

SHOP = """server {
    listen 80 default_server;
    server_name shop.example;
    root /srv/shop;
    index index.html;
    location /api/ {
        proxy_pass http://127.0.0.1:7000/;
    }
}
"""


@pytest.fixture
def shop(harness_session: Session) -> Iterator[docker.models.containers.Container]:
    """Someone's shop: our image for its nginx, but their site, their root and their API upstream (down)."""
    client = docker.from_env()
    container = client.containers.run(
        harness_session.image.tag, detach=True, ports={"80/tcp": ("127.0.0.1", None)}, name=f"shop-{time.time_ns()}"
    )
    try:
        script = (
            "until [ -s /run/nginx.pid ]; do sleep 0.05; done; "
            "mkdir -p /srv/shop && echo '<h1>shop</h1>' > /srv/shop/index.html && "
            f"printf '%s' '{SHOP}' > /etc/nginx/sites-available/default && service app stop >/dev/null && "
            "nginx -s reload"
        )
        assert container.exec_run(["sh", "-c", script]).exit_code == 0
        time.sleep(0.5)
        container.reload()
        yield container
    finally:
        container.remove(force=True)
        client.close()


@pytest.mark.docker
def test_check_on_a_foreign_configuration_speaks_of_that_configuration(
    shop: docker.models.containers.Container,
) -> None:
    done = run_harness("check", str(shop.name), "--json")
    report = validated(done.stdout, "check")
    evidence = " ".join(report["diagnosis"]["evidence"]) + report["diagnosis"]["summary"]
    assert "/srv/shop" in evidence or "shop.example" in evidence
    assert "9000" not in evidence and "/app/" not in evidence
    # Its API upstream is down: a fault, named with the line that proxies to it.
    assert done.returncode == VERDICT_FAILED, done.stderr
    assert report["diagnosis"]["cause"] == "upstream-unreachable"
    assert "127.0.0.1:7000" in report["diagnosis"]["summary"]
    assert "sites-available/default:7" in report["diagnosis"]["summary"]


# Faults no catalogue scenario injects, written as scenario files the way a team would: each must be named by the
# cause that explains it, with the line that does it, and repaired by undoing the change.
MAINTENANCE = """\
name: maintenance-left-on
summary: a maintenance 'return 503;' put in location / and never taken out
symptom: http-5xx
cause: config-returns-error
needs: [test-server]
inject:
  - script: |
      sed -i 's|location / {|location / {\\n\\t\\treturn 503;|' /etc/nginx/sites-available/default
      nginx -s reload
"""

IPV6_ONLY = """\
name: ipv6-only
summary: the IPv4 listen line dropped from the site; nginx keeps only [::]:80, which IPv4 clients cannot reach
symptom: refused
cause: site-listens-elsewhere
needs: [test-server]
inject:
  - script: |
      sed -i '/^\\s*listen 80 default_server;/d' /etc/nginx/sites-available/default
      nginx -s reload
"""

RATE_LIMIT = """\
name: rate-limit-too-tight
summary: "a limit_req of 1 request a minute put on location /: monitoring gets 503s"
symptom: http-5xx
cause: rate-limited
needs: [test-server]
inject:
  - script: |
      sed -i 's|^http {|http {\\n\\tlimit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;|' /etc/nginx/nginx.conf
      sed -i 's|location / {|location / {\\n\\t\\tlimit_req zone=one;|' /etc/nginx/sites-available/default
      nginx -s reload
"""

# A site that logs to a file of its own, and a regex location that refuses .html: GET / reaches index.html through
# an internal redirect the configuration's steps do not show; nginx's own error log (the site's) says why.
REGEX_DENY = """\
name: regex-location-denies
summary: "a 'location ~ \\\\.html$ { deny all; }' added to a site with its own error log: / answers 403"
symptom: http-4xx
cause: access-refused
needs: [test-server]
inject:
  - script: |
      site=/etc/nginx/sites-available/default
      sed -i 's|location / {|location ~ \\\\.html$ { deny all; }\\n\\tlocation / {|' $site
      sed -i 's|location ~|error_log /var/log/nginx/site-errors.log;\\n\\tlocation ~|' $site
      nginx -t && nginx -s reload
"""

DENY_NETWORK = """\
name: deny-private-network
summary: "a 'deny 172.16.0.0/12;' meant for a VPN range: it holds Docker's gateway, where monitoring arrives from"
symptom: http-4xx
cause: access-refused
needs: [test-server]
inject:
  - script: |
      sed -i 's|location / {|location / {\\n\\t\\tdeny 172.16.0.0/12;|' /etc/nginx/sites-available/default
      nginx -s reload
"""

WORKER_RLIMIT = """\
name: worker-rlimit-too-low
summary: "worker_rlimit_nofile 12 in nginx.conf, reloaded: the new workers die at start (epoll_create)"
symptom: timeout
cause: fd-limit-too-low
needs: [test-server]
inject:
  - script: |
      sed -i 's|^worker_processes.*|&\\nworker_rlimit_nofile 12;|' /etc/nginx/nginx.conf
      nginx -s reload
"""

OUTBOUND_DROP = """\
name: firewall-drops-replies
summary: "an OUTPUT rule drops what leaves from port 80: requests arrive, answers never leave"
symptom: timeout
cause: firewall-blocks-port
needs: [test-server]
capabilities: [NET_ADMIN]
inject:
  - run: [iptables, -w, "2", -I, OUTPUT, -p, tcp, --sport, "80", -j, DROP]
"""

SECOND_NGINX = """\
name: second-nginx-by-hand
summary: "a copy of the config tried with 'nginx -c /etc/nginx2/nginx.conf' and left running: it holds port 80"
symptom: http-4xx
cause: port-squatted
needs: [test-server]
inject:
  - script: |
      service nginx stop
      cp -a /etc/nginx /etc/nginx2
      rm /etc/nginx2/sites-enabled/default
      sed 's|root /var/www/html;|root /srv/staging;|' /etc/nginx/sites-available/default \\
        > /etc/nginx2/sites-enabled/default
      sed -i 's|/etc/nginx/|/etc/nginx2/|g; /^pid /d' /etc/nginx2/nginx.conf
      sed -i '1i pid /run/nginx2.pid;' /etc/nginx2/nginx.conf
      nginx -c /etc/nginx2/nginx.conf
      service nginx start || true
"""

RELATIVE_ROOT = """\
name: relative-root
summary: "root made relative ('root html;'): nginx reads it from its prefix and serves its own default page"
symptom: not-our-server
cause: site-serves-other-content
needs: [test-server]
inject:
  - script: |
      sed -i 's|root /var/www/html;|root html;|' /etc/nginx/sites-available/default
      nginx -s reload
"""

RECORD = "from the healthy examination's record"  # the change undone, not the line edited


@pytest.mark.docker
@pytest.mark.parametrize(
    ("text", "cause", "said", "undone"),
    [
        (MAINTENANCE, "config-returns-error", ("returns 503", "sites-available/default:"), RECORD),
        (IPV6_ONLY, "site-listens-elsewhere", ("[::]:80", "IPv6 only", "sites-available/default:"), RECORD),
        (RATE_LIMIT, "rate-limited", ("limit_req zone=one", "limiting requests", "sites-available/default:"), RECORD),
        (REGEX_DENY, "access-refused", ("access forbidden by rule", "sites-available/default:"), RECORD),
        (DENY_NETWORK, "access-refused", ("deny 172.16.0.0/12", "sites-available/default:"), RECORD),
        (WORKER_RLIMIT, "fd-limit-too-low", ("worker_rlimit_nofile 12", "nginx.conf:"), RECORD),
        (OUTBOUND_DROP, "firewall-blocks-port", ("OUTPUT", "--sport 80"), "iptables -w 2 -D OUTPUT"),
        (SECOND_NGINX, "port-squatted", ("started by hand", "/etc/nginx2/nginx.conf"), "kill -TERM"),
        (RELATIVE_ROOT, "site-serves-other-content", ("not /var/www/html/index.html", "default:7"), RECORD),
    ],
    ids=[
        "maintenance-left-on", "ipv6-only", "rate-limit-too-tight", "regex-location-denies", "deny-private-network",
        "worker-rlimit-too-low", "firewall-drops-replies", "second-nginx-by-hand", "relative-root",
    ],
)  # fmt: skip
def test_a_fault_nobody_catalogued_is_named_with_its_line_and_the_change_undone(
    tmp_path: Path, text: str, cause: str, said: tuple[str, ...], undone: str
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(text)
    done = run_harness("drill", str(scenario), "--json")
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    diagnosis = result["observed"]["diagnosis"]
    assert result["passed"] and diagnosis["cause"] == cause, diagnosis
    assert all(words in diagnosis["summary"] for words in said), diagnosis["summary"]  # with the line that does it
    steps = " ".join(" ".join(step["argv"]) for step in result["repair_steps"])
    assert undone in steps, steps


MAINTENANCE_SITE = """server {
    listen 80 default_server;
    root /var/www/html;
    index index.html;
    location / {
        if (-f $document_root/maintenance.html) { return 503; }
        try_files $uri $uri/ =404;
    }
}
"""
MAINTENANCE_SWITCHED_ON = """\
name: maintenance-switched-on
summary: someone switched the maintenance page on (touched maintenance.html) and went home
symptom: http-5xx
cause: config-returns-error
needs: [root]
inject:
  - run: [touch, "{{ root }}/maintenance.html"]
"""


@pytest.mark.docker
def test_a_maintenance_page_switched_on_by_a_file_is_traced_to_its_if_and_the_file_moved_aside(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "sites-available").mkdir(parents=True)
    (site / "sites-enabled").mkdir()
    (site / "sites-available" / "default").write_text(MAINTENANCE_SITE)
    (site / "sites-enabled" / "default").symlink_to("../sites-available/default")
    scenario = tmp_path / "maintenance.yaml"
    scenario.write_text(MAINTENANCE_SWITCHED_ON)
    done = run_harness("drill", str(scenario), "--site", str(site), "--json")
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    diagnosis = result["observed"]["diagnosis"]
    assert result["passed"] and diagnosis["cause"] == "config-returns-error", diagnosis
    assert "if (-f $document_root/maintenance.html)" in diagnosis["summary"]
    assert "/var/www/html/maintenance.html exists" in diagnosis["summary"]
    steps = [" ".join(step["argv"]) for step in result["repair_steps"]]
    assert any(s.startswith("mv -- /var/www/html/maintenance.html /var/backups/nginx/moved-aside/") for s in steps)


PIDFILE_LOST = """\
name: pidfile-deleted
summary: someone deleted /run/nginx.pid; nginx serves on, but its service can no longer stop, reload or restart it
symptom: latent
cause: pidfile-lost
inject:
  - run: [rm, -f, /run/nginx.pid]
"""


@pytest.mark.docker
def test_a_lost_pid_file_is_a_latent_fault_named_and_written_back(tmp_path: Path) -> None:
    scenario = tmp_path / "pidfile.yaml"
    scenario.write_text(PIDFILE_LOST)
    done = run_harness("drill", str(scenario), "--json")
    assert done.returncode == PASSED, done.stderr
    result = single_drill(done.stdout)
    diagnosis = result["observed"]["diagnosis"]
    assert result["passed"] and diagnosis["cause"] == "pidfile-lost", diagnosis
    assert result["observed"]["detected_by"] == "doctor"  # port 80 never failed
    steps = [" ".join(step["argv"]) for step in result["repair_steps"]]
    assert any(s.endswith("/run/nginx.pid") for s in steps) and "service nginx status" in steps


EMPTIED_PAGE = """\
name: page-emptied
summary: "a deploy truncated index.html to 0 bytes: 200, and no page"
symptom: not-our-server
cause: site-serves-other-content
needs: [test-server]
inject:
  - run: [truncate, -s, "0", /var/www/html/index.html]
"""


@pytest.mark.docker
def test_a_page_emptied_by_a_deploy_is_named_as_the_file_that_changed_and_left_to_a_person(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(EMPTIED_PAGE)
    done = run_harness("drill", str(scenario), "--json")
    result = single_drill(done.stdout)
    diagnosis = result["observed"]["diagnosis"]
    assert diagnosis["cause"] == "site-serves-other-content", diagnosis
    assert "/var/www/html/index.html" in diagnosis["summary"] and "now 0)" in diagnosis["summary"]
    # Nothing in nginx's configuration changed, so nothing is put back: the page is a deploy's to redo.
    assert done.returncode == VERDICT_FAILED and not result["passed"]
    assert "nothing in /etc/nginx changed" in result["reason"], result["reason"]
