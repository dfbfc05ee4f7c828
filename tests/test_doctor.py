"""The doctor: its rules on facts captured from real targets (no Docker), and on real servers broken in ways no
scenario catalogues (controls, a foreign configuration, faults named with their line)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import docker
from harness.catalogue import load_catalogue
from harness.causes import registry
from harness.cli import PASSED, VERDICT_FAILED
from harness.doctor import HEALTHY, UNEXPLAINED, UNKNOWN, Request, diagnose, examine
from harness.facts import COLLECT_SCRIPT, EnabledSite, parse_facts
from harness.session import Session
from harness.symptom import Symptom
from harness.target import Target
from tests.helpers import run_harness, single_drill, validated

DATA = Path(__file__).parent / "data"


def facts(name: str):  # type: ignore[no-untyped-def]
    return parse_facts((DATA / f"facts-{name}.txt").read_text())


def measured(name: str) -> tuple[tuple[str, ...], tuple[Request, ...]]:
    """What the probe saw when the facts were captured (their first line), as the drill hands it to the doctor."""
    first = (DATA / f"facts-{name}.txt").read_text().splitlines()[0]
    if not first.startswith("# measured: "):
        return (), ()
    path, said = first.removeprefix("# measured: ").split("\t", 1)
    return (said,), (Request(path),)


CATALOGUE = load_catalogue()
LOAD = ("a load burst: 37 of 2000 requests failed (refused)",), (Request("/"),)


@pytest.mark.parametrize("name", CATALOGUE.names())
def test_every_scenario_is_diagnosed_blind_from_what_its_target_showed(name: str) -> None:
    """Facts captured from a real target broken by NAME (tests/data/capture_facts.py); the doctor sees only them."""
    path = DATA / f"facts-{name}.txt"
    assert path.exists(), f"no captured facts for {name}: run tests/data/capture_facts.py {name}"
    scenario = CATALOGUE.scenarios[name]
    seen, requests = LOAD if scenario.symptom is Symptom.FAILS_UNDER_LOAD else measured(name)
    diagnosis = diagnose(parse_facts(path.read_text()), seen, requests)
    assert diagnosis.cause == scenario.cause, diagnosis.summary
    assert diagnosis.cause != HEALTHY


def test_the_decoys_are_examined_and_set_aside() -> None:
    diagnosis = diagnose(facts("misleading-path"))
    assert diagnosis.cause == "site-not-enabled"
    ruled_out = " ".join(diagnosis.ruled_out)
    assert "psycopg2.OperationalError" in ruled_out or "pool exhausted" in ruled_out
    assert "recent app deploy" in ruled_out
    assert all(note in diagnosis.evidence for note in diagnosis.ruled_out)
    # The plain outage has no decoys to set aside.
    assert diagnose(facts("missing-symlink")).ruled_out == ()


def test_hung_is_told_apart_from_dead() -> None:
    hung, killed = diagnose(facts("nginx-hung")), diagnose(facts("nginx-killed"))
    assert hung.cause == "nginx-hung" and "stopped (SIGSTOP)" in hung.evidence[0]
    assert killed.cause == "nginx-crashed" and "pid file names dead pid" in killed.evidence[0]


def test_latent_fault_is_flagged_while_nginx_serves() -> None:
    latent = facts("latent-bad-config")
    assert latent.nginx_listens_on(80) and latent.local("http://127.0.0.1:80/") == "200"
    diagnosis = diagnose(latent)
    assert diagnosis.cause == "latent-config-invalid"
    assert "/etc/nginx/sites-available/default" in diagnosis.summary


def test_healthy_target_is_diagnosed_healthy() -> None:
    diagnosis = diagnose(facts("healthy"))
    assert diagnosis.cause == HEALTHY
    assert "port 80: listened on by nginx" in diagnosis.evidence


def test_missing_link_is_named_with_its_evidence() -> None:
    diagnosis = diagnose(facts("missing-symlink"))
    assert diagnosis.cause == "site-not-enabled"
    assert "sites-available/default" in diagnosis.summary
    # The evidence shows the misleading signals it looked past: nginx runs and its config passes.
    assert "nginx -t: passes" in diagnosis.evidence
    assert "service nginx status: running" in diagnosis.evidence
    assert "port 80: nothing listens" in diagnosis.evidence


def test_stopped_nginx_is_not_a_missing_link() -> None:
    assert diagnose(facts("nginx-stopped")).cause == "nginx-not-running"


def test_parsed_facts_match_the_server() -> None:
    healthy = facts("healthy")
    assert healthy.nginx_master is not None and healthy.nginx_master.pid == healthy.pidfile_pid
    assert not healthy.stale_pidfile
    assert healthy.worker_connections == 768
    assert [(r.path, r.worker_can_read, r.index_files) for r in healthy.docroots] == [
        ("/var/www/html", True, ("index.html",))
    ]
    assert healthy.local("http://127.0.0.1:80/app/") == "200"
    assert healthy.inside.upstreams == {"http://127.0.0.1:9000/": "200"}
    assert not healthy.firewall_readable  # no NET_ADMIN unless a scenario asks for it
    assert healthy.config_ok and healthy.service_running
    assert healthy.nginx_listens_on(80)
    assert healthy.available == ("default",)
    assert healthy.enabled == (EnabledSite("default", "link", "/etc/nginx/sites-available/default", True),)
    assert healthy.unlinked_sites() == ()
    assert facts("missing-symlink").unlinked_sites() == ("default",)


def test_a_hung_master_is_not_healthy() -> None:
    healthy = facts("healthy")
    master = healthy.nginx_master
    assert master is not None
    stopped = replace(master, stat="T")
    hung = replace(healthy, processes=tuple(stopped if p == master else p for p in healthy.processes))
    assert diagnose(hung).cause not in (HEALTHY, "site-not-enabled")


def test_dangling_link_is_not_healthy() -> None:
    healthy = facts("healthy")
    dangling = replace(healthy, enabled=(EnabledSite("default", "link", "/etc/nginx/sites-available/gone", False),))
    assert dangling.dangling_links()
    assert diagnose(dangling).cause != HEALTHY


def test_nothing_matching_is_unknown_not_healthy() -> None:
    healthy = facts("healthy")
    # nginx runs, all sites linked, its config on disk names no port 80, yet the model does: nothing fits
    odd = replace(healthy, listeners=(), directives=())
    assert diagnose(odd).cause == UNKNOWN


def test_cut_short_output_is_refused() -> None:
    text = (DATA / "facts-healthy.txt").read_text()
    with pytest.raises(ValueError, match="cut short"):
        parse_facts(text.split("@@harness-section listen")[0])


def shipped_sections() -> list[str]:
    """The sections the shipped collection script writes, with those the installed units add: never a copied list."""
    script = COLLECT_SCRIPT + registry().collect_lines()
    return sorted(set(re.findall(r"^s ([a-z0-9][a-z0-9-]*);", script, flags=re.MULTILINE)))


def test_the_fuzzed_sections_are_read_from_the_shipped_script() -> None:
    sections = shipped_sections()
    assert {"ps", "configtest", "listen", "firewall", "errorlog", "conftar"} <= set(sections), sections


LINE = st.one_of(
    st.text(max_size=60),
    st.text(max_size=10).map(lambda t: "exit=" + t),
    st.lists(st.text(max_size=12), min_size=2, max_size=6).map("\t".join),
    st.lists(st.text(max_size=12), min_size=4, max_size=8).map(" ".join),
)
BODY = st.lists(LINE, max_size=6).map("\n".join)
MEASURED = st.sampled_from([(), ("the probe: connection refused",), ("the probe: HTTP 502 for /app/",)])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(shipped_sections()), BODY), max_size=12), MEASURED)
def test_any_finished_output_gets_a_known_verdict_and_never_healthy_during_an_outage(
    chunks: list[tuple[str, str]], measured: tuple[str, ...]
) -> None:
    """Whatever a broken server prints into the checks, the doctor names a cause it knows or says it cannot,
    and a failure measured from outside is never answered with "healthy" (the worst answer a drill can get)."""
    text = "".join(f"\n@@harness-section {name}\n{body}\n" for name, body in chunks) + "\n@@harness-section end\n"
    diagnosis = diagnose(parse_facts(text), measured=measured)
    assert diagnosis.cause in {c.id for c in registry().causes} | {HEALTHY, UNKNOWN, UNEXPLAINED}
    assert diagnosis.evidence
    if measured:
        assert diagnosis.cause != HEALTHY, diagnosis


def test_only_the_deploy_tools_backups_of_that_exact_file_are_rollback_candidates() -> None:
    site = "/etc/nginx/sites-available/default"
    kept = replace(
        facts("healthy"),
        backups=(
            f"20261127T010000Z{site}",
            f"20261127T020000Z/srv{site}",  # another file whose path merely ends the same
            f"rejected/20261127T030000Z{site}",  # a remedy's copy of a broken file
            f"20261127T040000Z{site}",
        ),
    )
    assert kept.backups_of(site) == (
        f"/var/backups/nginx/20261127T040000Z{site}",
        f"/var/backups/nginx/20261127T010000Z{site}",
    )


def test_workers_stopped_under_a_running_master_are_a_hang_not_unexplained() -> None:
    healthy = facts("healthy")
    stopped = tuple(
        replace(p, stat="T") if p.comm == "nginx" and "worker process" in p.args else p for p in healthy.processes
    )
    diagnosis = diagnose(
        replace(healthy, processes=stopped), ("the probe: timeout",), (Request("/", symptom="timeout"),)
    )
    assert diagnosis.cause == "nginx-hung", diagnosis.summary
    assert "of its" in diagnosis.summary and "worker processes are stopped" in diagnosis.summary
    assert diagnosis.traces and diagnosis.traces[0].broken is not None
    assert "every worker is stopped" in diagnosis.traces[0].broken.detail


# -- never healthy during a measured outage ------------------------------------------------------------


def test_a_measured_failure_the_checks_cannot_explain_is_unexplained_not_healthy() -> None:
    healthy = facts("healthy")
    assert diagnose(healthy).cause == HEALTHY
    failing = "the probe: GET /app/: HTTP 502"
    diagnosis = diagnose(healthy, [failing])
    assert diagnosis.cause == UNEXPLAINED and not diagnosis.healthy
    assert failing in diagnosis.summary
    assert f"measured from outside: {failing}" in diagnosis.evidence


# -- summaries say what was observed -------------------------------------------------------------------


def test_app_down_summary_states_the_code_that_was_seen() -> None:
    crashing = facts("bad-app-deploy")
    traced = diagnose(crashing)
    assert traced.cause == "app-release-crashing"
    assert "127.0.0.1:9000/ does not answer" in traced.summary and "502" not in traced.summary
    # Without a trace to go on, it says what the fetch inside got: here a 404, never a 502 nobody saw.
    fetched = tuple(replace(f, code="404") if f.url.endswith("/app/") else f for f in crashing.inside.fetches)
    quiet = replace(crashing, inside=replace(crashing.inside, upstreams={}, fetches=fetched))
    from harness.facts import with_inside

    diagnosis = diagnose(with_inside(quiet, quiet.inside))
    assert diagnosis.cause == "app-release-crashing"
    assert "404 from http://127.0.0.1:80/app/" in diagnosis.summary and "502" not in diagnosis.summary


# -- a one-line server block ---------------------------------------------------------------------------


@pytest.mark.docker
def test_a_root_inside_a_one_line_server_block_is_read(harness_target: Target) -> None:
    one_line = "server { listen 8081; root /srv/oneline; index index.html; location / { try_files $uri =404; } }\n"
    harness_target.write_file("/etc/nginx/conf.d/oneline.conf", one_line.encode())
    harness_target.exec(["mkdir", "-p", "/srv/oneline"], check=True)
    harness_target.exec(["nginx", "-s", "reload"], check=True)
    diagnosis = examine(harness_target)
    assert any(root.path == "/srv/oneline" for root in diagnosis.facts.docroots), diagnosis.evidence


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
