"""The doctor's judgement on teams' sites, without Docker: try_files handlers, TLS, aliases, honest summaries."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.command import ExecResult
from harness.confmodel import parse_tree
from harness.doctor import HEALTHY, UNEXPLAINED, Request, diagnose
from harness.errors import RemedyError
from harness.facts import Facts, parse_facts
from harness.inside import Fetch, Inside, PathStat, plan
from harness.trace import trace
from tests.test_config_model import site

DATA = Path(__file__).parent / "data"
OPEN = ("/srv", "/srv/app", "/srv/app/public", "/var", "/var/www", "/var/www/html")


def facts_for(body: str, **inside: Any) -> Facts:
    """Healthy facts captured from a real target, with BODY as its site and INSIDE as the second round trip."""
    healthy = parse_facts((DATA / "facts-healthy.txt").read_text())
    dirs = {d: PathStat(d, True, "directory", "755", "root", True, True) for d in OPEN}
    paths = {**dirs, **inside.pop("paths", {})}
    return replace(healthy, config=parse_tree(site(body)), inside=Inside("www-data", paths, ran=True, **inside))


NAMED = """server {
    listen 80 default_server;
    root /srv/app/public;
    location / { try_files /dev/null @api; }
    location @api { proxy_pass http://127.0.0.1:3000; }
}
"""

REFUSED = (
    "2026/12/04 10:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, "
    'client: 127.0.0.1, server: , request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:3000/", host: "localhost"'
)


def test_try_files_to_a_named_location_is_traced_to_its_upstream_not_a_missing_file() -> None:
    facts = facts_for(
        NAMED,
        fetches=(Fetch("localhost", "http://127.0.0.1:80/", "502"),),
        upstreams={"http://127.0.0.1:3000/": "000"},
        errors=(REFUSED,),
    )
    result = trace(facts, facts.inside, Request("/"))
    broken = result.broken
    assert broken is not None and broken.what == "upstream" and broken.kind == "refused", result.steps
    assert "127.0.0.1:3000" in broken.detail and broken.where == "/etc/nginx/sites-available/default:5"
    assert any("try_files falls back to @api" in step.detail for step in result.steps)
    diagnosis = diagnose(facts, ("the probe: HTTP 502",), (Request("/"),))
    assert diagnosis.cause == "upstream-unreachable", diagnosis.summary
    # The planner asks the named location's upstream directly.
    assert "http://127.0.0.1:3000/" in plan(facts.config).upstreams


def test_try_files_uri_then_named_serves_the_file_when_it_is_there() -> None:
    body = NAMED.replace("/dev/null @api", "$uri @api")
    page = PathStat("/srv/app/public/robots.txt", True, "regular file", "644", "root", True, False)
    facts = facts_for(body, paths={page.path: page}, upstreams={"http://127.0.0.1:3000/": "000"})
    steps = trace(facts, facts.inside, Request("/robots.txt")).steps
    assert [s.what for s in steps][-1] == "file" and steps[-1].ok and steps[-1].subject == page.path


def test_try_files_to_a_uri_follows_the_internal_redirect_to_php() -> None:
    body = """server {
    listen 80 default_server;
    root /var/www/html;
    index index.php;
    location / { try_files $uri $uri/ /index.php?$args; }
    location ~ \\.php$ { fastcgi_pass 127.0.0.1:9001; }
}
"""
    facts = facts_for(body, upstreams={"fastcgi://127.0.0.1:9001/": "000"})
    broken = trace(facts, facts.inside, Request("/shop/cart")).broken
    assert broken is not None and broken.what == "upstream", broken
    assert "9001" in broken.detail and broken.where == "/etc/nginx/sites-available/default:6"
    # Said as written: a FastCGI address is no URL.
    assert broken.detail.startswith("fastcgi_pass 127.0.0.1:9001") and "fastcgi://" not in broken.detail


TLS = """server {
    listen 443 ssl;
    server_name shop.example;
    ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;
    ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;
    root /var/www/html;
    location /api/ { proxy_pass http://127.0.0.1:7000; }
}
"""


def test_the_inside_checks_ask_an_ssl_listener_over_https_with_its_name() -> None:
    checks = plan(parse_tree(site(TLS)), [Request("/x", "shop.example", 443)])
    urls = [url for _, url in checks.fetches]
    assert "https://127.0.0.1:443/" in urls and "https://127.0.0.1:443/api/" in urls
    assert "https://127.0.0.1:443/x" in urls
    assert not any(url.startswith("http://127.0.0.1:443") for url in urls)
    assert ("shop.example", "https://127.0.0.1:443/") in checks.fetches


ALIAS = """server {
    listen 80 default_server;
    root /var/www/html;
    location /static/ { alias /srv/app/static/; }
}
"""

DENIED = (
    '2026/12/04 10:00:00 [crit] 7#7: *3 stat() "/srv/app/static/" failed (13: Permission denied), client: '
    '127.0.0.1, server: , request: "GET /static/ HTTP/1.1", host: "localhost"'
)


def test_a_failure_nginx_logs_for_the_doctors_own_request_is_never_healthy_and_aliases_are_traced() -> None:
    assert ("localhost", "http://127.0.0.1:80/static/") in plan(parse_tree(site(ALIAS))).fetches
    locked = PathStat("/srv/app/static", True, "directory", "700", "root", False, False)
    fetches = (
        Fetch("localhost", "http://127.0.0.1:80/", "200"),
        Fetch("localhost", "http://127.0.0.1:80/static/", "403"),
    )
    facts = facts_for(ALIAS, paths={locked.path: locked}, fetches=fetches, errors=(DENIED,))
    diagnosis = diagnose(facts)
    assert diagnosis.cause == "web-root-unreadable", diagnosis.summary
    assert "/srv/app/static cannot be entered by www-data" in diagnosis.summary
    assert "nginx answers 403" in diagnosis.summary
    # The same folder, open: a 403 for a folder without an index is what the site asks for.
    opened = replace(locked, mode="755", readable=True, enterable=True)
    forbidden = DENIED.replace("[crit]", "[error]").replace(
        'stat() "/srv/app/static/" failed (13: Permission denied)', 'directory index of "/srv/app/static/" is forbidden'
    )
    healthy = facts_for(ALIAS, paths={opened.path: opened}, fetches=fetches, errors=(forbidden,))
    assert diagnose(healthy).cause == HEALTHY


# -- every clause of a summary follows from the facts -----------------------------------------------


CAPTURED = sorted(p.name for p in DATA.glob("facts-*.txt") if p.name != "facts-healthy.txt")


def _clauses_hold(summary: str, facts: Facts) -> list[str]:
    """The clauses of SUMMARY that the facts contradict."""
    wrong = []
    if "another server answers" in summary and not facts.nginx_listens_on(80):
        wrong.append("'another server answers' while nginx listens on no port 80")
    for code in re.findall(r"nginx answers (\d{3})\b", summary):
        if code not in {f.code for f in facts.inside.fetches}:
            wrong.append(
                f"'nginx answers {code}' while the doctor's own requests got {[f.code for f in facts.inside.fetches]}"
            )
    if re.search(r"nginx answers \d{3} or \d{3}", summary):
        wrong.append("a status that is one of two: the request was answered one way")
    for ports in re.findall(r"listens on ((?:\d+, )*\d+)", summary):
        listed = ports.split(", ")
        if len(listed) != len(set(listed)):
            wrong.append(f"'listens on {ports}' repeats a port")
    for port in re.findall(r"nothing (?:answers|listens) on (?:port )?(\d+)", summary):
        if facts.nginx_listens_on(int(port)):
            wrong.append(f"'nothing answers on {port}' while nginx listens there")
    if "nginx is down" in summary and facts.nginx_master is not None:
        wrong.append("'nginx is down' while its master runs")
    return wrong


@pytest.mark.parametrize("name", CAPTURED)
def test_every_clause_of_a_units_summary_follows_from_its_facts(name: str) -> None:
    healthy = parse_facts((DATA / "facts-healthy.txt").read_text())
    facts = parse_facts((DATA / name).read_text())
    for measured in ((), ("the probe: GET /: refused",)):
        diagnosis = diagnose(facts, measured, (Request("/"),) if measured else (), baseline=healthy)
        assert _clauses_hold(diagnosis.summary, facts) == [], diagnosis.summary


def test_the_readmes_first_drill_says_nothing_answers_not_another_server() -> None:
    healthy = parse_facts((DATA / "facts-healthy.txt").read_text())
    for name in ("facts-missing-symlink.txt", "facts-misleading-path.txt"):
        facts = parse_facts((DATA / name).read_text())
        diagnosis = diagnose(facts, ("the probe: GET /: refused",), (Request("/"),), baseline=healthy)
        assert diagnosis.cause == "site-not-enabled"
        assert "another server" not in diagnosis.summary and "serves no site on port 80" in diagnosis.summary


# -- harness's own test server is not a team's site ---------------------------------------------------


class _Site:
    """A target with a team's tree laid in it: records what a remedy runs, answers `test` as a site would."""

    def __init__(self) -> None:
        self.ran: list[list[str]] = []

    def exec(self, argv: list[str], **_: object) -> ExecResult:
        self.ran.append(argv)
        return ExecResult(tuple(argv), 0, "", "", 0.0)  # every path exists: the site marker and the release copy


def test_a_remedy_never_copies_harness_pages_into_a_teams_tree() -> None:
    from harness.units.files import INDEX_MISSING

    facts = facts_for(ALIAS, fetches=(Fetch("localhost", "http://127.0.0.1:80/", "404"),))
    diagnosis = diagnose(facts, ("the probe: HTTP 404",), (Request("/"),))
    target = _Site()
    assert INDEX_MISSING.remedy is not None
    with pytest.raises(RemedyError, match="the team's"):
        INDEX_MISSING.remedy(target, diagnosis)  # type: ignore[arg-type]
    assert not any(argv[0] == "cp" for argv in target.ran)


def test_an_upstream_at_the_test_apps_address_on_a_site_is_not_the_test_app() -> None:
    from scenarios.app_causes import COLLECT, installed

    assert "/etc/harness-site" in COLLECT
    on_site = replace(parse_facts((DATA / "facts-app-stopped.txt").read_text()))
    sections = tuple(
        (name, ("exit=3", "installed\tno") if name == "app" else lines) for name, lines in on_site.sections
    )
    assert not installed(replace(on_site, sections=sections))
    diagnosis = diagnose(replace(on_site, sections=sections), ("the probe: HTTP 502",), (Request("/app/"),))
    assert diagnosis.cause == "upstream-unreachable" and "the app behind it" not in diagnosis.summary


def test_a_link_loop_names_the_teams_file_not_an_nginx_conf_it_does_not_have() -> None:
    facts = parse_facts((DATA / "facts-bad-config-deploy.txt").read_text())
    said = (
        'nginx: [emerg] open() "/etc/nginx/sites-enabled/shop" failed (40: Too many levels of symbolic links) in '
        "/etc/nginx/nginx.conf:62\nnginx: configuration file /etc/nginx/nginx.conf test failed\n"
    )
    looped = replace(facts, config_output=said, config_file=("/etc/nginx/nginx.conf", "/etc/nginx/nginx.conf"))
    summary = diagnose(looped).summary
    assert "fails in /etc/nginx/sites-enabled/shop (too many levels of symbolic links" in summary, summary


def test_files_missing_under_an_alias_are_said_to_be_under_the_alias() -> None:
    folder = PathStat("/srv/app/static", True, "directory", "755", "root", True, True)
    gone = PathStat("/srv/app/static/app.css", False)  # the gathering records a path it looked for and did not find
    facts = facts_for(ALIAS, paths={folder.path: folder, gone.path: gone})
    broken = trace(facts, facts.inside, Request("/static/app.css")).broken
    assert broken is not None and broken.kind == "absent"
    assert (
        broken.detail
        == "none of the files nginx would serve for /static/app.css exists under the alias /srv/app/static: app.css"
    )


GROUP = """upstream app {
    server unix:/run/app/a.sock;
    server unix:/run/app/b.sock;
}
server {
    listen 80 default_server;
    root /var/www/html;
    location ~ ^/admin/ { proxy_pass http://app; }
}
"""


def test_every_server_of_an_upstream_group_is_asked_and_the_group_is_dead_only_when_all_are() -> None:
    assert {"unix:/run/app/a.sock", "unix:/run/app/b.sock"} <= set(plan(parse_tree(site(GROUP))).upstreams)
    one = facts_for(GROUP, upstreams={"unix:/run/app/a.sock": "nosocket", "unix:/run/app/b.sock": "socket"})
    assert diagnose(one).cause == HEALTHY  # nginx fails over to the socket that answers
    both = facts_for(GROUP, upstreams={"unix:/run/app/a.sock": "nosocket", "unix:/run/app/b.sock": "nosocket"})
    diagnosis = diagnose(both)
    assert diagnosis.cause == "upstream-unreachable", diagnosis.summary
    assert "location ~ ^/admin/" in diagnosis.summary and "/etc/nginx/sites-available/default:8" in diagnosis.summary
    assert "the socket /run/app/a.sock does not exist" in diagnosis.summary


def test_a_listen_moved_onto_a_port_the_app_holds_is_the_moved_listen_with_the_holder_named() -> None:
    from harness.facts import Listener, Process

    body = "server {\n    listen 80 default_server;\n    root /var/www/html;\n}\n"
    before = facts_for(body)
    moved = facts_for(body.replace("listen 80", "listen 8081"))
    bind = f"{'9' * 4}/12/31 23:59:59 [emerg] 7#7: bind() to 0.0.0.0:8081 failed (98: Address already in use)"
    after = replace(
        moved,
        listeners=(*moved.listeners, Listener("0.0.0.0", 8081, (("python3", 70),))),
        processes=(*moved.processes, Process(70, 1, "S", "python3", "python3 -m http.server 8081")),
        error_log=(*moved.error_log, bind),
    )
    diagnosis = diagnose(after, baseline=before)
    assert diagnosis.cause == "site-listens-elsewhere", diagnosis.summary
    summary = diagnosis.summary
    assert "listens on 8081, not on 80 as at the healthy check (/etc/nginx/sites-available/default:2)" in summary
    assert "held by python3 (pid 70: python3 -m http.server 8081)" in summary and "Address already in use" in summary
    assert "still serves its previous configuration" in summary
    # Without a healthy record the port is simply held: named the same way, as port-squatted.
    assert diagnose(after).cause == "port-squatted"


def test_a_locked_tree_behind_try_files_to_index_php_stays_the_broken_step() -> None:
    body = """server {
    listen 80 default_server;
    root /var/www/php;
    index index.php;
    location / { try_files $uri $uri/ /index.php?$args; }
    location ~ \\.php$ { fastcgi_pass unix:/run/php/php-fpm.sock; }
}
"""
    locked = PathStat("/var/www", True, "directory", "750", "root", False, False)
    facts = facts_for(body, paths={locked.path: locked}, upstreams={"unix:/run/php/php-fpm.sock": "socket"})
    broken = trace(facts, facts.inside, Request("/")).broken
    assert broken is not None and broken.kind == "unenterable" and broken.subject == "/var/www", broken


TLS_PAIR = """server {
    listen 80;
    server_name secure.example.net;
    return 301 https://secure.example.net$request_uri;
}

server {
    listen 443 ssl;
    server_name secure.example.net;
    root /var/www/html;
}
"""


def test_two_servers_of_one_file_and_name_on_80_and_443_are_not_a_moved_listen() -> None:
    from harness.facts import Listener

    # The redirect on 80 and the TLS server on 443 share file and names: neither moved, whichever order they come in.
    for body in (
        TLS_PAIR,
        TLS_PAIR.replace("listen 80;", "@").replace("listen 443 ssl;", "listen 80;").replace("@", "listen 443 ssl;"),
    ):
        healthy = facts_for(body)
        healthy = replace(healthy, listeners=(*healthy.listeners, Listener("0.0.0.0", 443, (("nginx", 30),))))
        assert diagnose(healthy, baseline=healthy).cause == HEALTHY, diagnose(healthy, baseline=healthy).summary
    # The TLS server's own listen moved off 443 is still named, as that server's line.
    moved = replace(healthy, config=parse_tree(site(TLS_PAIR.replace("listen 443 ssl;", "listen 8443 ssl;"))))
    diagnosis = diagnose(moved, baseline=facts_for(TLS_PAIR))
    assert diagnosis.cause == "site-listens-elsewhere", diagnosis.summary
    assert (
        "listens on 8443, not on 443 as at the healthy check (/etc/nginx/sites-available/default:8)"
        in diagnosis.summary
    )


WORDPRESS = """server {
    listen 80 default_server;
    root /var/www/blog;
    index index.php;
    location / { try_files $uri $uri/ /index.php?$args; }
    location ~ \\.php$ {
        PARAMS
        fastcgi_pass unix:/run/php/php-fpm.sock;
    }
}
"""


@pytest.mark.parametrize(
    ("params", "cause"),
    [
        ("fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;", "root-missing"),
        ("fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;", "root-missing"),
        # The app does not look under the root: a missing root is not where this 404 comes from.
        ("fastcgi_param SCRIPT_FILENAME /srv/app/index.php;", UNEXPLAINED),
        # Debian's snippets/fastcgi-php.conf: nginx itself looks for the script under the root first.
        (
            "fastcgi_split_path_info ^(.+?\\.php)(/.*)$; try_files $fastcgi_script_name =404; "
            "fastcgi_param SCRIPT_FILENAME /srv/app/index.php;",
            "root-missing",
        ),
    ],
)
def test_a_missing_root_php_fpm_runs_its_scripts_from_is_where_the_404_breaks(params: str, cause: str) -> None:
    gone = PathStat("/var/www/blog", False)
    facts = facts_for(WORDPRESS.replace("PARAMS", params), paths={"/var/www/blog": gone})
    diagnosis = diagnose(facts, ("the probe: HTTP 404",), (Request("/", symptom="http-4xx"),))
    assert diagnosis.cause == cause, diagnosis.summary
    if "try_files" in params:
        assert "the root /var/www/blog does not exist, so try_files answers =404 before the app" in diagnosis.summary
    elif cause == "root-missing":
        assert (
            "the root /var/www/blog does not exist, and fastcgi_pass unix:/run/php/php-fpm.sock runs its scripts"
            in diagnosis.summary
        )
    # The root there: the trace holds, nothing is blamed on it.
    there = PathStat("/var/www/blog", True, "directory", "755", "root", True, True)
    healthy = facts_for(WORDPRESS.replace("PARAMS", params), paths={"/var/www/blog": there})
    assert all(step.ok for step in trace(healthy, healthy.inside, Request("/")).steps)


def test_a_root_unreadable_through_a_locked_parent_is_repaired_at_the_parent() -> None:
    """A parent locked while PHP-FPM still answers every request: the examination finds the root unreadable, and
    the remedy opens the folder above it that blocks the worker, not only the root."""
    from harness.facts import DocRoot
    from harness.units.files import WEB_ROOT_UNREADABLE

    php = WORDPRESS.replace("PARAMS", "fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;")
    locked = PathStat("/var/www", True, "directory", "750", "root", False, False)
    facts = facts_for(php, paths={"/var/www": locked})
    facts = replace(facts, docroots=(DocRoot("/var/www/blog", True, False, ("index.php",), "www-data"),))
    diagnosis = diagnose(facts)
    assert diagnosis.cause == "web-root-unreadable", diagnosis.summary
    target = _Site()
    assert WEB_ROOT_UNREADABLE.remedy is not None
    WEB_ROOT_UNREADABLE.remedy(target, diagnosis)  # type: ignore[arg-type]
    assert ["chmod", "a+rx", "--", "/var/www"] in target.ran, target.ran
    assert ["chmod", "a+rx", "--", "/var"] not in target.ran  # open folders are left as they are


STATUS = """server {
    listen 80 default_server;
    root /var/www/html;
}
server {
    listen 127.0.0.1:80;
    server_name localhost;
    location = /nginx_status { stub_status; }
}
"""


def test_a_server_that_names_no_root_serves_nginxs_default_root_and_the_doctor_looks_there() -> None:
    """A loopback status server has no root: its "/" is nginx's default page, which the gathering must look at.
    Under an open-files limit its 500 was read as "none of the files exists" and named index-missing."""
    from harness.server_paths import DEFAULT_ROOT

    assert f"{DEFAULT_ROOT}/index.html" in plan(parse_tree(site(STATUS))).paths
    page = PathStat(f"{DEFAULT_ROOT}/index.html", True, "regular file", "644", "root", True, True)
    facts = facts_for(STATUS, paths={page.path: page}, fetches=(Fetch("localhost", "http://127.0.0.1:80/", "500"),))
    step = next(s for s in trace(facts, facts.inside, Request("/", "localhost")).steps if s.what == "file")
    assert step.ok and step.subject == page.path, step
    # Where the gathering did not look, the files are unknown: never "missing" on that account.
    unseen = facts_for(STATUS, fetches=(Fetch("localhost", "http://127.0.0.1:80/", "500"),))
    step = next(s for s in trace(unseen, unseen.inside, Request("/", "localhost")).steps if s.what == "file")
    assert step.ok and "not checked inside" in step.detail


REWRITTEN = """server {
    listen 80 default_server;
    location / { proxy_pass http://127.0.0.1:3000; }
    location /files/ {
        root /var/lib/app;
        if ($request_method = GET) { rewrite (.*) /app$1 last; }
    }
}
"""


def test_a_step_that_broke_just_so_at_the_healthy_check_is_not_this_outages_cause() -> None:
    """A rewrite the trace does not follow makes a missing root look broken; nginx answered it at the healthy check,
    so when the app goes down the dead upstream is named, not the root."""
    gone = {"/var/lib/app": PathStat("/var/lib/app", False)}
    healthy = facts_for(
        REWRITTEN,
        paths=gone,
        fetches=(
            Fetch("localhost", "http://127.0.0.1:80/", "200"),
            Fetch("localhost", "http://127.0.0.1:80/files/", "200"),
        ),
        upstreams={"http://127.0.0.1:3000/": "200"},
    )
    down = facts_for(
        REWRITTEN,
        paths=gone,
        fetches=(
            Fetch("localhost", "http://127.0.0.1:80/", "502"),
            Fetch("localhost", "http://127.0.0.1:80/files/", "502"),
        ),
        upstreams={"http://127.0.0.1:3000/": "000"},
        errors=(REFUSED,),
    )
    probe = (Request("/", "localhost", symptom="http-5xx"),)
    diagnosis = diagnose(down, ("the probe: HTTP 502",), probe, baseline=healthy)
    assert diagnosis.cause == "upstream-unreachable", diagnosis.summary
    held = [s for t in diagnosis.traces for s in t.steps if "at the healthy check too" in s.detail]
    assert held and all(s.ok for s in held)


CYCLE = """server {
    listen 80 default_server;
    location / { proxy_pass http://127.0.0.1:8080; }
    location /userContent {
        root /var/lib/jenkins;
        if (!-f $request_filename) { rewrite (.*) REPLACEMENT last; }
    }
}
"""


@pytest.mark.parametrize(
    ("replacement", "broken_at"),
    [
        ("$1", "rewrite"),  # lands in the same location again: nginx's rewrite cycle, a 500
        ("/$1", "upstream"),  # "//userContent" lands in `location /`: the app behind it answers (or not)
    ],
)
def test_a_rewrite_for_missing_files_is_followed_where_it_lands(replacement: str, broken_at: str) -> None:
    gone = {"/var/lib/jenkins": PathStat("/var/lib/jenkins", False)}
    facts = facts_for(
        CYCLE.replace("REPLACEMENT", replacement), paths=gone, upstreams={"http://127.0.0.1:8080/": "000"}
    )
    result = trace(facts, facts.inside, Request("/userContent"))
    assert result.broken is not None and result.broken.what == broken_at, result.summary()
    if broken_at == "rewrite":
        assert "rewrite or internal redirection cycle" in result.broken.detail
    # A file that is there: the condition does not hold, and nothing is rewritten.
    there = PathStat("/var/lib/jenkins/userContent", True, "regular file", "644", "root", True, True)
    present = facts_for(CYCLE.replace("REPLACEMENT", replacement), paths={there.path: there})
    assert not [s for s in trace(present, present.inside, Request("/userContent")).steps if s.what == "rewrite"]


def test_a_5xx_nginx_logged_for_the_doctors_own_request_is_never_healthy_and_says_where_it_breaks() -> None:
    cycle = (
        "2026/12/05 08:00:00 [error] 7#7: *3 rewrite or internal redirection cycle while processing "
        '"/userContent", client: 127.0.0.1, server: , request: "GET /userContent HTTP/1.1", host: "localhost"'
    )
    gone = {"/var/lib/jenkins": PathStat("/var/lib/jenkins", False)}
    facts = facts_for(
        CYCLE.replace("REPLACEMENT", "$1"),
        paths=gone,
        fetches=(
            Fetch("localhost", "http://127.0.0.1:80/", "200"),
            Fetch("localhost", "http://127.0.0.1:80/userContent", "500"),
        ),
        upstreams={"http://127.0.0.1:8080/": "200"},
        errors=(cycle,),
    )
    diagnosis = diagnose(facts)
    assert not diagnosis.healthy
    assert "breaks at the rewrite" in diagnosis.summary and "redirection cycle" in diagnosis.summary, diagnosis.summary
