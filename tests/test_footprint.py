"""harness's own footprint: its probes and bursts stay inside a site's limit_req / limit_conn, and a refusal that
harness's own pace would cause is never measured (the limits site, tests/sites/limits, against real nginx)."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from pathlib import Path

import pytest

from harness.choice import rate_limited_page
from harness.cli import BAD_INPUT, HARNESS_ERROR
from harness.cli.drill import exit_code
from harness.confmodel import parse_tree
from harness.drill import unsteady_probes
from harness.footprint import Pacer, limits_for
from harness.outcome import Result, Verdict
from harness.probe import Check, Monitor, Outcome, Probe, Sample
from harness.session import Session
from harness.site import derive_probes, load_site, probe_plan
from harness.symptom import Symptom
from harness.timeline import Recorder
from tests.helpers import run_harness
from tests.test_config_model import site

SITES = Path(__file__).parent / "sites"
LIMITS = SITES / "limits"

ZONES = """limit_req_zone $binary_remote_addr zone=everywhere:1m rate=30r/m;
limit_req_zone $binary_remote_addr zone=login:1m rate=1r/s;
limit_req_zone $binary_remote_addr zone=php:1m rate=2r/s;
limit_conn_zone $binary_remote_addr zone=conns:1m;
limit_req_zone $binary_remote_addr zone=fast:1m rate=10r/s;
limit_req zone=everywhere;
"""

SERVERS = """server {
    listen 80 default_server;
    server_name inherits.example;
    root /srv/a;
    location /free/ { limit_req zone=login burst=5; }
    location /fast/ { limit_req zone=fast; }
}
server {
    listen 80;
    server_name app.example;
    root /srv/b;
    index index.php;
    limit_conn conns 4;
    location / { try_files $uri $uri/ @app; }
    location @app { limit_req zone=login; }
    location ~ \\.php$ { limit_req zone=php burst=3 nodelay; }
    location /outer/ {
        limit_req zone=php;
        location /outer/inner/ { }
    }
}
"""


def _model() -> object:
    return parse_tree(site(SERVERS, **{"/etc/nginx/conf.d/zones.conf": ZONES}))


def _zones(host: str, path: str) -> set[str]:
    return {limit.zone.name for limit in limits_for(_model(), host, path, 80)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "path", "zones"),
    [
        ("inherits.example", "/", {"everywhere"}),  # http level, inherited
        ("inherits.example", "/free/x", {"login"}),  # a location's own replaces what it inherits
        # try_files may fall through to @app; the server's limit_conn; http's limit_req reaches location /.
        ("app.example", "/page", {"conns", "login", "everywhere"}),
        ("app.example", "/", {"conns", "login", "everywhere", "php"}),  # and the index page goes to the .php location
        ("app.example", "/outer/inner/", {"conns", "php"}),  # a nested location inherits its parent's
    ],
)
def test_the_limits_that_count_a_request_follow_nginx_inheritance(host: str, path: str, zones: set[str]) -> None:
    assert _zones(host, path) == zones


def test_a_limit_is_read_with_its_rate_burst_key_and_lines() -> None:
    (limit,) = limits_for(_model(), "inherits.example", "/free/x", 80)  # type: ignore[arg-type]
    assert (limit.zone.rate, limit.burst, limit.zone.key) == (1.0, 5, "$binary_remote_addr")
    assert "sites-available/default:5" in limit.describe() and "1r/s" in limit.describe()
    assert limit.gap == pytest.approx(2.0)  # half the rate
    (everywhere,) = limits_for(_model(), "inherits.example", "/", 80)  # type: ignore[arg-type]
    assert everywhere.zone.rate_text() == "30r/m" and everywhere.gap == pytest.approx(4.0)


def test_the_pacer_never_sends_a_zone_two_requests_closer_than_its_share() -> None:
    pacer = Pacer(_model())  # type: ignore[arg-type]
    (limit,) = pacer.limits("inherits.example", "/fast/", 80)  # 10r/s, no burst: 0.2 s apart from harness
    assert limit.gap == pytest.approx(0.2)
    starts = []
    for _ in range(3):
        with pacer.request("inherits.example", "/fast/", 80):
            starts.append(time.monotonic())
    assert all(b - a >= limit.gap - 0.01 for a, b in itertools.pairwise(starts)), starts


def test_the_pacer_holds_at_most_half_of_a_limit_conn() -> None:
    pacer = Pacer(_model())  # type: ignore[arg-type]
    (conns,) = [lim for lim in pacer.limits("app.example", "/page", 80) if lim.zone.kind == "conn"]
    assert conns.concurrent == 2  # limit_conn conns 4
    inside, most = 0, 0
    lock = threading.Lock()

    def one() -> None:
        nonlocal inside, most
        # /page is also under zone login (1r/s); the connection slots are what this test counts.
        with pacer.request("app.example", "/page", 80):
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    pacer._next.clear()
    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most <= 2


def test_the_monitor_never_samples_faster_than_the_sites_limits_allow() -> None:
    model = load_site(LIMITS).model
    checks = (Check("", "", own_page=False, host="www.example.com"), Check("", "", own_page=False, host="example.com"))
    probe = Probe("http://127.0.0.1:9/", checks=checks, pacer=Pacer(model))
    # Two probes in zone pages (5r/s): harness takes half, so a sample of both takes 0.8 s at least.
    assert Monitor(probe, 0.05).interval == pytest.approx(0.8)
    unlimited = Probe("http://127.0.0.1:9/", checks=(Check("", "", own_page=False, host="blog.example.com"),))
    assert Monitor(unlimited, 0.05).interval == 0.05


def test_loopback_only_servers_get_no_probe_and_bursts_go_to_an_unlimited_page() -> None:
    limits = load_site(LIMITS)
    hosts = {p.host for p in derive_probes(limits.model)}
    assert hosts == {"", "www.example.com", "example.com", "api.example.com", "blog.example.com"}
    plan = probe_plan(limits)
    assert "127.0.0.1:80" in plan["not_probed"][0] and "blog.example.com" in plan["load"]
    assert not rate_limited_page(limits.model)
    assert rate_limited_page(load_site(SITES / "dropper").model)  # its only page is limited


class _Target:
    def __init__(self, checks: tuple[Check, ...]) -> None:
        self.checks = checks
        self.pacer = Pacer(load_site(LIMITS).model)


def test_a_probe_that_never_got_steady_is_one_line_naming_what_it_expected_got_and_the_limit() -> None:
    www = Check("", "Welcome", own_page=False, host="www.example.com", why="/etc/nginx/sites-available/www:12")
    blog = Check("", "Blog", own_page=False, host="blog.example.com")
    said = "GET www.example.com/: HTTP 429 (the healthy server answers 200)"
    samples = [Sample(float(i), Outcome.HTTP_4XX, 429, 0.001, said, "/", "www.example.com") for i in range(20)]
    lines = unsteady_probes(_Target((www, blog)), samples)  # type: ignore[arg-type]
    assert len(lines) == 2
    assert lines[0].startswith(
        "✗ GET www.example.com/: expected HTTP 200 with 'Welcome' (/etc/nginx/sites-available/www:12)"
    )
    assert "got HTTP 429 (the healthy server answers 200) in 20 of 20 samples" in lines[0]
    assert "limit_req zone=pages (5r/s, burst 2" in lines[0] and "www.example.com:9" in lines[0]
    assert lines[1].startswith("✓ GET blog.example.com/")


def _not_steady(site: str, unsteady: tuple[str, ...], samples: tuple[Sample, ...] = ()) -> Result:
    return Result(
        "s", "", Symptom.REFUSED, "c", Verdict.NOT_STEADY, "no 3 good samples", None, None, None, None, None, (), (),
        Recorder().freeze(list(samples)), (), None, None, 1.0, "image", "target", "run", site=site,
        unsteady=unsteady,
    )  # fmt: skip


def test_a_site_probe_that_does_not_hold_before_any_fault_is_bad_input_exit_2() -> None:
    assert exit_code(_not_steady("/x", ("✗ GET www.example.com/: expected …",))) == BAD_INPUT
    assert exit_code(_not_steady("", ())) == HARNESS_ERROR  # the test server not steady: harness's own trouble


# -- against real nginx ------------------------------------------------------------------------------------


def _strings(value: object) -> list[str]:
    """Every string in a JSON document, however deep."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _limited_in_log(target: object) -> list[str]:
    done = target.exec(["sh", "-c", "cat /var/log/nginx/error.log || true"])  # type: ignore[attr-defined]
    return [line for line in done.stdout.splitlines() if "limiting" in line]


@pytest.mark.docker
def test_the_probe_stays_within_the_sites_limit_req_at_the_default_interval() -> None:
    with Session(site=load_site(LIMITS)) as session, session.new_target() as target:
        with Monitor(target.probe(), 0.05) as monitor:
            assert monitor.wait_for_streak(True, 6, since=0.0, timeout=30.0) is not None, monitor.samples[-3:]
        samples = monitor.samples
        assert samples and all(s.ok for s in samples), [s.detail for s in samples if not s.ok][:3]
        # nginx itself says it turned nothing of harness's away (recording, waiting to serve, sampling).
        assert _limited_in_log(target) == []


@pytest.mark.docker
def test_a_drill_on_a_rate_limited_site_recovers_and_never_blames_the_limit() -> None:
    done = run_harness("drill", "nginx-stopped", "--site", str(LIMITS), "--json", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # Only in words: a timestamp such as 6.429 is no status.
    said = " ".join(_strings(json.loads(done.stdout)))
    assert not re.search(r"\b429\b", said) and "rate-limited" not in said
    assert "one every 0.8 s, within the site's own limits" in done.stdout  # the steady event says the pace


def test_nginx_refusing_the_doctors_own_requests_is_never_a_rate_limit_diagnosis() -> None:
    from dataclasses import replace

    from harness.doctor import Request, diagnose
    from tests.test_config_model import with_config

    body = "server {\n listen 80;\n root /var/www/html;\n location / {\n  limit_req zone=one;\n }\n}\n"
    facts = with_config(site(body), ran=True)
    failing = (("the probe: HTTP 503",), (Request("/", symptom="http-5xx"),))
    # The doctor's curl from inside, two requests in a row under a zone with no burst: its own footprint.
    own = '[error] 54#54: *6 limiting requests, excess: 0.994 by zone "one", client: 127.0.0.1, server: _'
    assert diagnose(replace(facts, error_log=(own,)), *failing).cause != "rate-limited"  # type: ignore[type-var,arg-type]
    outside = own.replace("127.0.0.1", "172.17.0.1")
    assert diagnose(replace(facts, error_log=(outside,)), *failing).cause == "rate-limited"  # type: ignore[type-var,arg-type]


def test_a_flapping_probe_is_summed_up_in_one_line_and_its_probes_are_in_the_json() -> None:
    from rich.console import Console

    from harness.report import render_result, result_to_dict

    flapping = tuple(
        Sample(i / 20, Outcome.OK if i % 2 else Outcome.HTTP_4XX, 200 if i % 2 else 429, 0.001, "x") for i in range(40)
    )
    result = _not_steady("/site", ("✗ GET www.example.com/: expected HTTP 200; got HTTP 429",), flapping)
    console = Console(record=True, width=120)
    render_result(result, console)
    text = console.export_text()
    (line,) = [row for row in text.splitlines() if "probe: " in row]
    assert "ok ×20" in line and "http-4xx ×20" in line and "flapping: 39 changes" in line
    assert "→" not in text
    assert result_to_dict(result)["unsteady_probes"] == list(result.unsteady)


@pytest.mark.docker
def test_harness_check_with_the_sites_tree_stays_within_its_limits() -> None:
    with Session(site=load_site(LIMITS)) as session, session.new_target() as target:
        done = run_harness("check", target.name, "--site", str(LIMITS), timeout=300)
        assert "429" not in done.stdout, done.stdout[-1500:]
        assert _limited_in_log(target) == []
