"""Failures only a request shows: the built-in units' log patterns name them by nginx's own line about the doctor's
request, with the directive that governs it, and never turn a healthy server, another client's line or an old line
into a diagnosis."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.causes import Registry, registry
from harness.doctor import HEALTHY, UNEXPLAINED, diagnose, gather
from harness.facts import Facts, parse_facts
from harness.inside import parse_inside
from harness.semantics import Request
from harness.target import Target

DATA = Path(__file__).parent / "data"
AT = "2026/12/04 18:00:00 [error] 31#31: *5 "
OURS = ', client: 127.0.0.1, server: _, request: "GET / HTTP/1.1", host: "localhost"'
FAILED = ("the probe: HTTP 500",)


def _patterns_only() -> Registry:
    """The built-in units with their rules silenced: what no rule explains, as on a server where none fits."""
    return Registry(tuple(dataclasses.replace(u, rule=lambda ctx: None) for u in registry().causes))


def _with_line(line: str) -> Facts:
    facts = parse_facts((DATA / "facts-healthy.txt").read_text())
    return dataclasses.replace(facts, inside=dataclasses.replace(facts.inside, errors=(line,)))


@pytest.mark.parametrize(
    ("words", "cause", "governed"),
    [
        ('open() "/var/www/html/index.html" failed (13: Permission denied)', "web-root-unreadable", "`root /var/www/"),
        ('"/var/www/html/index.html" is forbidden (13: Permission denied)', "web-root-unreadable", "`root /var/www/"),
        ('"/var/www/html/" is not found (2: No such file or directory)', "root-missing", "`root /var/www/html`"),
        ('directory index of "/var/www/html/" is forbidden', "index-missing", "`index index.html`"),
        ("connect() failed (111: Connection refused) while connecting to upstream", "upstream-unreachable", ""),
        (
            "connect() to unix:/run/app.sock failed (13: Permission denied) while connecting to upstream",
            "upstream-unreachable",
            "`proxy_pass`",
        ),
        (
            "upstream timed out (110: Connection timed out) while reading response header from upstream",
            "upstream-unreachable",
            "",
        ),
        ('no live upstreams while connecting to upstream, upstream: "http://app/"', "upstream-unreachable", ""),
        ('open() "/var/www/html/index.html" failed (24: Too many open files)', "fd-limit-too-low", ""),
        ("1024 worker_connections are not enough", "worker-connections-too-low", "`worker_connections 768`"),
        ('limiting requests, excess: 10.500 by zone "one"', "rate-limited", "`limit_req`"),
        ("access forbidden by rule", "access-refused", "`deny`"),
    ],
)
def test_a_request_time_failure_no_rule_explains_is_named_by_its_line_and_directive(
    words: str, cause: str, governed: str
) -> None:
    found = diagnose(_with_line(AT + words + OURS), FAILED, (Request(),), units=_patterns_only())
    assert found.cause == cause, found.summary
    assert "only when it arrives" in found.summary and words[:30] in found.summary
    assert governed in found.summary
    if governed.startswith("`root"):
        assert "(/etc/nginx/sites-enabled/default:" in found.summary or "sites-available/default:" in found.summary


def test_a_refused_file_outside_the_root_is_not_the_web_roots_fault() -> None:
    # A password file nginx may not read: the web root's pattern fits the words, not the path.
    words = 'open() "/etc/nginx/htpasswd" failed (13: Permission denied)'
    found = diagnose(_with_line(AT + words + OURS), FAILED, (Request(),), units=_patterns_only())
    assert found.cause == UNEXPLAINED, found.summary


def test_a_matching_line_never_makes_a_healthy_server_a_diagnosis_nor_does_another_clients_line() -> None:
    line = AT + "connect() failed (111: Connection refused) while connecting to upstream"
    # Nothing failed: a line alone is no outage.
    assert diagnose(_with_line(line + OURS), (), (), units=_patterns_only()).cause == HEALTHY
    assert diagnose(_with_line(line + OURS), (), (), units=registry()).cause == HEALTHY
    # A failure, but the line is about a client outside, not the doctor's own request.
    theirs = OURS.replace("127.0.0.1", "203.0.113.9")
    assert diagnose(_with_line(line + theirs), FAILED, (Request(),), units=_patterns_only()).cause == UNEXPLAINED


def test_only_lines_written_since_the_doctors_requests_began_are_read() -> None:
    old = "2026/12/04 17:59:59 [error] 31#31: *1 access forbidden by rule" + OURS
    new = "2026/12/04 18:00:00 [error] 31#31: *5 access forbidden by rule" + OURS
    text = "\n@@harness-inside began\n2026/12/04 18:00:00\n@@harness-inside errors\n{}\n@@harness-inside end\n"
    assert parse_inside(text.format(old), "www-data").errors == ()
    assert parse_inside(text.format(old + "\n" + new), "www-data").errors == (new,)


@pytest.mark.docker
def test_real_nginx_words_are_named_with_the_directive_and_an_old_line_is_not(harness_target: Target) -> None:
    target = harness_target
    # A past failure about the same request, from before this examination: never evidence now.
    stale = "2020/01/01 00:00:00 [error] 9#9: *1 access forbidden by rule" + OURS
    target.exec(["sh", "-c", f"printf '%s\\n' '{stale}' >> /var/log/nginx/error.log"], check=True)
    assert diagnose(gather(target, (Request(),)).facts, FAILED, (Request(),), units=_patterns_only()).cause == (
        UNEXPLAINED
    )
    target.exec(["chmod", "000", "/var/www/html/index.html"], check=True)
    found = diagnose(gather(target, (Request(),)).facts, FAILED, (Request(),), units=_patterns_only())
    assert found.cause == "web-root-unreadable", found.summary
    assert "(13: Permission denied)" in found.summary
    assert "governed by `root /var/www/html` (/etc/nginx/sites-available/default:7)" in found.summary
    # A proxied location whose upstream nothing listens on: nginx's own words, and its proxy_pass line. (The
    # log names no port: the page is readable again, so the port-80 line above is not the newest about `GET /`.)
    target.exec(["chmod", "644", "/var/www/html/index.html"], check=True)
    site = "server { listen 8082; location / { proxy_pass http://127.0.0.1:9/; } }\n"
    target.write_file("/etc/nginx/conf.d/closed.conf", site.encode())
    target.exec(["nginx", "-s", "reload"], check=True)
    request = Request(port=8082)
    found = diagnose(gather(target, (request,)).facts, FAILED, (request,), units=_patterns_only())
    assert found.cause == "upstream-unreachable", found.summary
    assert "111: Connection refused" in found.summary
    assert "governed by `proxy_pass http://127.0.0.1:9/` (/etc/nginx/conf.d/closed.conf:1)" in found.summary


def test_in_the_second_the_workers_started_a_line_counts_only_when_a_running_nginx_wrote_it() -> None:
    """error.log has whole seconds: a restart's old workers and its new master can write in the same one."""
    facts = parse_facts((DATA / "facts-healthy.txt").read_text())
    master = next(p for p in facts.processes if p.comm == "nginx")
    second = "2026/12/05 07:13:28"
    old_worker = f'{second} [crit] 99999#99999: *4 open() "/srv/index.html" failed (24: Too many open files)'
    new_master = (
        f"{second} [emerg] {master.pid}#{master.pid}: bind() to 0.0.0.0:8081 failed (98: Address already in use)"
    )
    earlier = f"2026/12/05 07:13:27 [emerg] {master.pid}#{master.pid}: an older line"
    later = "2026/12/05 07:13:29 [crit] 99999#99999: a later line"
    lines = dataclasses.replace(facts, error_log=(earlier, old_worker, new_master, later), workers_started=second)
    assert lines.current_errors() == (new_master, later)
