"""The doctor for any nginx, without Docker: configurations parsed from text, traced, compared, judged."""

from __future__ import annotations

import io
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from harness.causes import AREAS, Cause, Context, Finding, load_registry, validate
from harness.changes import compare
from harness.confmodel import parse_tree
from harness.doctor import HEALTHY, UNEXPLAINED, Request, diagnose
from harness.facts import Listener, parse_facts
from harness.inside import Inside, PathStat, plan
from harness.semantics import choose_location, choose_server
from harness.trace import trace

DATA = Path(__file__).parent / "data"

DEBIAN_NGINX_CONF = """user www-data;
worker_processes auto;
events {
\tworker_connections 768;
}
http {
\tinclude /etc/nginx/mime.types;
\tinclude /etc/nginx/conf.d/*.conf;
\tinclude /etc/nginx/sites-enabled/*;
}
"""


def tree(files: dict[str, str], links: dict[str, str] | None = None) -> bytes:
    """A tar of /etc/nginx as the collection script makes it: FILES by path, LINKS path -> target."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        folders = {"etc", "etc/nginx"}
        for path in [*files, *(links or {})]:
            parts = path.strip("/").split("/")[:-1]
            folders |= {"/".join(parts[: i + 1]) for i in range(len(parts))}
        for folder in sorted(folders):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path.strip("/"))
            info.size, info.mode, info.uname = len(data), 0o644, "root"
            archive.addfile(info, io.BytesIO(data))
        for path, target in (links or {}).items():
            info = tarfile.TarInfo(path.strip("/"))
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def site(body: str, name: str = "default", **extra: str) -> bytes:
    files = {
        "/etc/nginx/nginx.conf": DEBIAN_NGINX_CONF,
        "/etc/nginx/mime.types": "types { text/html html; }\n",
        f"/etc/nginx/sites-available/{name}": body,
        **extra,
    }
    return tree(files, {f"/etc/nginx/sites-enabled/{name}": f"/etc/nginx/sites-available/{name}"})


VHOSTS = """server {
    listen 80;
    server_name www.example.org;
    return 301 http://example.org$request_uri;
}
server {
    listen 80 default_server;
    server_name example.org;
    root /srv/example;
    index index.html;
    error_page 404 /404.html;
    location = /404.html { internal; }
    location ^~ /static/ { alias /srv/assets/; }
    location ~ \\.php$ { fastcgi_pass unix:/run/php/php-fpm.sock; }
    location /api/ { proxy_pass http://backend; }
    location / { try_files $uri $uri/ =404; }
}
upstream backend { server 127.0.0.1:7000; }
"""


def test_servers_locations_includes_and_upstreams_are_read_with_file_and_line() -> None:
    model = parse_tree(site(VHOSTS))
    assert model.errors == ()
    assert [s.names for s in model.servers] == [("www.example.org",), ("example.org",)]
    apex = model.servers[1]
    assert apex.default_on(80) and not model.servers[0].default_on(80)
    # Evidence names the file a person edits: the link's target, not sites-enabled/default.
    assert str(apex.where) == "/etc/nginx/sites-available/default:6"
    assert [(loc.modifier, loc.path) for loc in apex.locations] == [
        ("=", "/404.html"),
        ("^~", "/static/"),
        ("~", "\\.php$"),
        ("", "/api/"),
        ("", "/"),
    ]
    assert model.upstreams["backend"][0].args == ("127.0.0.1:7000",)
    assert model.user == "www-data" and model.worker_connections is not None
    assert str(model.worker_connections.where) == "/etc/nginx/nginx.conf:4"
    sites = next(i for i in model.includes if i.pattern == "/etc/nginx/sites-enabled/*")
    assert sites.matched == ("/etc/nginx/sites-enabled/default",) and str(sites.where) == "/etc/nginx/nginx.conf:9"
    assert next(i for i in model.includes if "conf.d" in i.pattern).matched == ()


def test_a_one_line_server_block_and_a_broken_file_are_read_as_far_as_they_go() -> None:
    model = parse_tree(site("server { listen 8081; root /srv/one; location / { return 200; } }\n"))
    assert model.servers[0].listens[0].port == 8081 and model.servers[0].get("root").args == ("/srv/one",)  # type: ignore[union-attr]
    broken = parse_tree(site("server {\n    listen 80;\n    root /srv;\n"))
    assert broken.errors and "sites-available/default" in broken.errors[0]


def test_an_include_typo_matches_nothing_and_a_missing_include_is_an_error() -> None:
    typo = DEBIAN_NGINX_CONF.replace("sites-enabled/*", "site-enabled/*")
    model = parse_tree(site("server { listen 80; }\n", **{"/etc/nginx/nginx.conf": typo}))
    include = next(i for i in model.includes if "site-enabled" in i.pattern)
    assert include.matched == () and model.servers == ()
    explicit = DEBIAN_NGINX_CONF.replace("include /etc/nginx/mime.types;", "include /etc/nginx/mime.typo;")
    missing = parse_tree(site("server { listen 80; }\n", **{"/etc/nginx/nginx.conf": explicit}))
    assert any("mime.typo" in e and "nginx.conf:7" in e for e in missing.errors)


def test_a_broken_tar_is_an_empty_model_with_the_reason() -> None:
    model = parse_tree(b"not a tar at all")
    assert model.servers == () and model.errors


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/404.html", ("=", "/404.html")),
        ("/static/app.css", ("^~", "/static/")),  # ^~ stops the regex search
        ("/index.php", ("~", "\\.php$")),
        ("/api/users", ("", "/api/")),
        ("/about", ("", "/")),
    ],
)
def test_locations_are_chosen_in_nginx_order(path: str, expected: tuple[str, str]) -> None:
    model = parse_tree(site(VHOSTS))
    server = choose_server(model, Request(path, "example.org"))
    assert server is not None
    location = choose_location(server, path)
    assert location is not None and (location.modifier, location.path) == expected


def test_servers_are_chosen_by_name_then_default() -> None:
    model = parse_tree(site(VHOSTS))
    assert choose_server(model, Request("/", "www.example.org")) is model.servers[0]
    assert choose_server(model, Request("/", "unknown.test")) is model.servers[1]  # the default_server


# -- traces on facts captured from a real target, with the configuration swapped ---------------------


def with_config(raw: bytes, **inside: object) -> object:
    healthy = parse_facts((DATA / "facts-healthy.txt").read_text())
    return replace(healthy, config=parse_tree(raw), inside=Inside(user="www-data", **inside))  # type: ignore[arg-type]


def test_a_site_on_8080_breaks_at_the_server_step_naming_its_listen_line() -> None:
    facts = with_config(site("server {\n    listen 8080 default_server;\n    root /var/www/html;\n}\n"))
    result = trace(facts, facts.inside, Request("/"))  # type: ignore[attr-defined]
    broken = result.broken
    assert broken is not None and broken.what == "server"
    assert "listens on 8080" in broken.detail and "sites-available/default:1" in broken.detail


def test_a_proxy_to_a_port_where_nothing_listens_breaks_at_the_upstream() -> None:
    body = "server {\n  listen 80;\n  location /app/ {\n    proxy_pass http://127.0.0.1:9001/;\n  }\n}\n"
    facts = with_config(site(body), upstreams={"http://127.0.0.1:9001/": "000"}, ran=True)
    result = trace(facts, facts.inside, Request("/app/"))  # type: ignore[attr-defined]
    broken = result.broken
    assert broken is not None and broken.what == "upstream" and broken.kind == "refused"
    assert "127.0.0.1:9001" in broken.detail and "listening inside: 9000" in broken.detail  # where the app is
    assert broken.where == "/etc/nginx/sites-available/default:4"


def _web_root_with(index: PathStat) -> object:
    """A site served from /var/www/html, every directory above it open, and INDEX as its index.html."""
    dirs = [PathStat(d, True, "directory", "755", "root", True, True) for d in ("/var", "/var/www", "/var/www/html")]
    body = "server {\n  listen 80;\n  root /var/www/html;\n  index index.html;\n}\n"
    return with_config(site(body), paths={p.path: p for p in (*dirs, index)}, ran=True)


def test_an_index_the_worker_cannot_read_is_named_with_its_mode() -> None:
    facts = _web_root_with(PathStat("/var/www/html/index.html", True, "regular file", "600", "root", False, False))
    broken = trace(facts, facts.inside, Request("/")).broken  # type: ignore[attr-defined]
    assert broken is not None and broken.kind == "unreadable"
    assert broken.detail == "/var/www/html/index.html is not readable by www-data (mode 600 root)"
    diagnosis = diagnose(facts, ("the probe: HTTP 403",), (Request("/"),))  # type: ignore[arg-type]
    assert diagnosis.cause == "web-root-unreadable"


def test_the_plan_asks_only_for_what_the_configuration_names() -> None:
    checks = plan(parse_tree(site(VHOSTS)), [Request("/api/x", "example.org")])
    assert "/srv/example/index.html" in checks.paths and "/srv/assets" in checks.paths
    assert "http://127.0.0.1:7000/" in checks.upstreams and "unix:/run/php/php-fpm.sock" in checks.upstreams
    assert not any("9000" in word or "/app/" in word for word in checks.argv()[4:])


# -- honest verdicts -------------------------------------------------------------------------------


def test_healthy_facts_with_a_measured_failure_and_an_intact_path_are_unexplained() -> None:
    facts = parse_facts((DATA / "facts-healthy.txt").read_text())
    diagnosis = diagnose(facts, ("the probe: GET /: timeout",), (Request("/"),))
    # Inside, nginx answers: the way in from outside is where it breaks, and the doctor says so.
    assert diagnosis.cause == UNEXPLAINED and "breaks at the outside" in diagnosis.summary
    assert diagnose(facts).cause == HEALTHY


def test_what_changed_lists_files_listeners_and_services() -> None:
    before = parse_facts((DATA / "facts-healthy.txt").read_text())
    after = parse_facts((DATA / "facts-listen-8080.txt").read_text())
    changes = compare(before, after)
    assert changes.file("/etc/nginx/sites-available/default") is not None
    lines = changes.lines()
    assert any("listener-gone 80 (nginx)" in line for line in lines)
    assert any("listener-new 8080 (nginx)" in line for line in lines)
    assert compare(before, before).lines() == ["changed since the healthy check: nothing the doctor looks at"]


def test_with_a_healthy_record_the_diagnosis_lists_what_changed() -> None:
    before = parse_facts((DATA / "facts-healthy.txt").read_text())
    after = parse_facts((DATA / "facts-include-typo.txt").read_text())
    diagnosis = diagnose(after, ("the probe: connection reset",), (Request("/"),), baseline=before)
    assert diagnosis.cause == "include-matches-nothing"
    assert "/etc/nginx/site-enabled/*" in diagnosis.summary and "nginx.conf:60" in diagnosis.summary
    assert any("file-changed /etc/nginx/nginx.conf" in line for line in diagnosis.evidence)


# -- cause units ------------------------------------------------------------------------------------


def _never(ctx: Context) -> Finding | None:
    return None


def test_a_unit_is_validated_when_it_loads() -> None:
    good = Cause("disk-full", _never, order=5, area="resources", measures=("Alert on disk space.",))
    assert validate(good, "disk-full") is good
    with pytest.raises(ValueError, match="area"):
        validate(replace(good, area="disk"), "disk-full")
    with pytest.raises(ValueError, match="differs from its entry-point name"):
        validate(good, "disk-ful")
    with pytest.raises(ValueError, match="corrective measure"):
        validate(replace(good, measures=()), "disk-full")
    with pytest.raises(ValueError, match="sections"):
        validate(replace(good, collect="df -h"), "disk-full")
    assert set(AREAS) >= {"process", "config", "port", "files", "upstream", "resources"}


def test_a_hook_that_cannot_be_called_as_the_doctor_calls_it_is_refused_at_load() -> None:
    """As pluggy checks a hook implementation against its specification: named when the unit loads, not mid-drill."""
    good = Cause("disk-full", _never, order=5, area="resources", measures=("Alert on disk space.",))

    def two_args(ctx: Context, facts: object) -> None:
        return None

    def defaulted(ctx: Context, strict: bool = False) -> None:
        return None

    with pytest.raises(ValueError, match=r"its rule two_args\(ctx: 'Context', facts: 'object'\).* rule\(ctx\)"):
        validate(replace(good, rule=two_args), "disk-full")
    with pytest.raises(ValueError, match=r"its remedy .* remedy\(target, diagnosis\)"):
        validate(replace(good, remedy=_never), "disk-full")
    with pytest.raises(ValueError, match=r"its set_aside .* set_aside\(ctx, cause\)"):
        validate(replace(good, set_aside=_never), "disk-full")
    with pytest.raises(ValueError, match="its rule must be a callable"):
        validate(replace(good, rule="not a function"), "disk-full")
    assert validate(replace(good, rule=defaulted), "disk-full").rule is defaulted


# A plugin's unit that takes an order a built-in unit already has (access-refused's), and one with an order of its own.
CLASHING = Cause("deny-by-config", _never, order=125, area="config", measures=("Review access rules.",))
OWN_ORDER = Cause("disk-full", _never, order=7, area="resources", measures=("Alert on disk space.",))


def test_a_unit_whose_order_another_has_is_refused_naming_both_and_the_rest_load() -> None:
    from importlib.metadata import EntryPoint, entry_points

    from harness.causes import GROUP

    plugins = [
        EntryPoint("deny-by-config", f"{__name__}:CLASHING", GROUP),
        EntryPoint("disk-full", f"{__name__}:OWN_ORDER", GROUP),
    ]
    registry = load_registry([*entry_points(group=GROUP), *plugins])
    (refused,) = registry.broken
    assert refused.name == "deny-by-config"
    assert "order 125 is already that of cause unit 'access-refused' from nginx-harness" in refused.reason
    assert "harness list --causes" in refused.reason
    ids = [unit.id for unit in registry.causes]
    assert "access-refused" in ids and "disk-full" in ids and "deny-by-config" not in ids
    assert ids[0] == "disk-full"  # order 7: tried first


def test_harness_list_causes_shows_the_order_the_doctor_tries_them_in() -> None:
    from click.testing import CliRunner

    from harness.cli import cli

    shown = CliRunner().invoke(cli, ["list", "--causes"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.output.splitlines() if line.startswith("│")]
    listed = [(int(row[1]), row[3]) for row in rows if row[1].isdigit()]
    assert listed == [(unit.order, unit.id) for unit in load_registry().causes]
    assert (125, "access-refused") in listed


def test_every_built_in_cause_is_a_registered_unit_and_every_scenario_cause_has_one() -> None:
    from harness.catalogue import load_catalogue

    registry = load_registry()
    assert registry.broken == ()
    known = {unit.id for unit in registry.causes}
    assert {s.cause for s in load_catalogue().scenarios.values()} <= known
    orders = [unit.order for unit in registry.causes]
    assert orders == sorted(orders)


def test_a_crashing_unit_does_not_stop_the_diagnosis() -> None:
    from harness.causes import Registry

    def crash(ctx: Context) -> Finding | None:
        raise KeyError("oops")

    units = Registry((Cause("crashy", crash, order=1, area="config", measures=("x",)),))
    facts = parse_facts((DATA / "facts-healthy.txt").read_text())
    diagnosis = diagnose(facts, units=units)
    assert diagnosis.cause == HEALTHY
    assert any("cause unit crashy could not judge: KeyError" in line for line in diagnosis.evidence)


def test_a_unit_whose_set_aside_crashes_is_named_in_the_log_and_the_diagnosis_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from harness.causes import Registry

    def fits(ctx: Context) -> Finding | None:
        return Finding("it fits", ("seen",))

    def crash(ctx: Context, cause: str) -> list[str]:
        raise KeyError("oops")

    units = Registry(
        (
            Cause("fits", fits, order=1, area="config", measures=("x",)),
            Cause("crashy", lambda ctx: None, order=2, area="config", measures=("x",), set_aside=crash),
        )
    )
    diagnosis = diagnose(parse_facts((DATA / "facts-healthy.txt").read_text()), units=units)
    assert diagnosis.cause == "fits"
    logged = [r.getMessage() for r in caplog.records]
    assert logged == ["cause unit crashy could not set causes aside: KeyError: 'oops'"]


def test_listeners_are_read_from_the_real_server() -> None:
    facts = parse_facts((DATA / "facts-healthy.txt").read_text())
    assert any(isinstance(item, Listener) and item.port == 9000 for item in facts.listeners)


# -- nginx's access phase -----------------------------------------------------------------------------


def _access_trace(body: str, path: str = "/") -> object:
    facts = with_config(site(body), ran=True)
    return trace(facts, facts.inside, Request(path, symptom="http-4xx"))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "kind", "said", "line"),
    [
        ("server {\n listen 80;\n root /var/www/html;\n location / {\n  deny all;\n }\n}\n",
         "denied", "`deny all` refuses every client", 5),
        ("server {\n listen 80;\n allow 10.0.0.0/8;\n allow 192.168.1.7;\n deny all;\n location / { }\n}\n",
         "denied", "allow only 10.0.0.0/8, 192.168.1.7, and `deny all` refuses every other client", 5),
        ("server {\n listen 80;\n auth_basic \"staff\";\n auth_basic_user_file /etc/nginx/htpasswd;\n}\n",
         "password", "auth_basic 'staff' asks every request for a password", 3),
        ("server {\n listen 80;\n satisfy any;\n deny all;\n auth_basic \"staff\";\n}\n",
         "password", "asks every request for a password", 5),
    ],
)  # fmt: skip
def test_access_rules_that_refuse_every_client_break_the_trace_at_their_line(
    body: str, kind: str, said: str, line: int
) -> None:
    broken = _access_trace(body).broken  # type: ignore[attr-defined]
    assert broken is not None and (broken.what, broken.kind) == ("access", kind)
    assert said in broken.detail and broken.where == f"/etc/nginx/sites-available/default:{line}"


@pytest.mark.parametrize(
    "body",
    [
        # A location's own rules replace the server's whole (nginx inherits arrays, it does not merge them).
        "server {\n listen 80;\n deny all;\n location / {\n  allow all;\n }\n}\n",
        'server {\n listen 80;\n auth_basic "staff";\n location / {\n  auth_basic off;\n }\n}\n',
        # Rules that name addresses only: whether they refuse depends on the client, which is not known.
        "server {\n listen 80;\n deny 10.0.0.0/8;\n}\n",
        # The rewrite phase comes first: a redirect is answered before any access rule.
        "server {\n listen 80;\n deny all;\n location / {\n  return 301 https://example.org$request_uri;\n }\n}\n",
    ],
)
def test_access_rules_that_let_the_request_through_or_come_too_late_are_not_blamed(body: str) -> None:
    steps = _access_trace(body).steps  # type: ignore[attr-defined]
    assert not any(step.what == "access" for step in steps)


def test_a_deny_all_is_diagnosed_as_access_refused_with_its_line_not_as_missing_files() -> None:
    body = "server {\n listen 80;\n root /var/www/html;\n location / {\n  deny all;\n }\n}\n"
    facts = with_config(site(body), ran=True)
    diagnosis = diagnose(facts, ("the probe: HTTP 403",), (Request("/", symptom="http-4xx"),))  # type: ignore[arg-type]
    assert diagnosis.cause == "access-refused", diagnosis.summary
    assert "nginx answers 403 by its own access rules" in diagnosis.summary
    assert "sites-available/default:5" in diagnosis.summary


def test_the_text_of_a_site_read_through_its_link_is_kept_under_the_path_its_lines_are_named_by() -> None:
    model = parse_tree(site("server {\n listen 80;\n}\n"))
    assert model.servers[0].where.file == "/etc/nginx/sites-available/default"
    assert model.contents["/etc/nginx/sites-available/default"].startswith("server {")


def test_a_maintenance_return_left_on_is_named_as_the_configuration_s_own_answer() -> None:
    body = "server {\n listen 80;\n root /var/www/html;\n location / {\n  return 503;\n }\n}\n"
    facts = with_config(site(body), ran=True)
    diagnosis = diagnose(facts, ("the probe: HTTP 503",), (Request("/", symptom="http-5xx"),))  # type: ignore[arg-type]
    assert diagnosis.cause == "config-returns-error", diagnosis.summary
    assert "returns 503" in diagnosis.summary and "sites-available/default:5" in diagnosis.summary


@pytest.mark.parametrize(
    ("address", "listen", "why"),
    [
        ("[::]", "listen [::]:80 default_server;", "IPv6 only"),
        ("127.0.0.1", "listen 127.0.0.1:80;", "a loopback address"),
    ],
)
def test_a_socket_clients_from_outside_cannot_reach_is_where_a_refused_request_breaks(
    address: str, listen: str, why: str
) -> None:
    facts = with_config(site(f"server {{\n {listen}\n root /var/www/html;\n}}\n"), ran=True)
    facts = replace(facts, listeners=(Listener(address, 80, (("nginx", 30),)),))  # type: ignore[type-var]
    refused = Request("/", symptom="refused")
    broken = trace(facts, facts.inside, refused).broken  # type: ignore[attr-defined]
    assert broken is not None and (broken.what, broken.kind) == ("socket", "unreachable-address")
    assert why in broken.detail and broken.where == "/etc/nginx/sites-available/default:2"
    diagnosis = diagnose(facts, ("the probe: connection reset",), (refused,))  # type: ignore[arg-type]
    assert diagnosis.cause == "site-listens-elsewhere", diagnosis.summary
    # Both stacks, or any address: reachable, so not blamed.
    for fine in ("*", "0.0.0.0", "172.17.0.2"):
        facts = replace(facts, listeners=(Listener(fine, 80, (("nginx", 30),)),))  # type: ignore[type-var]
        assert trace(facts, facts.inside, refused).steps[0].ok  # type: ignore[attr-defined]


def test_a_rate_limit_is_blamed_only_when_nginx_says_it_rejects() -> None:
    body = "server {\n listen 80;\n root /var/www/html;\n location / {\n  limit_req zone=one burst=5;\n }\n}\n"
    facts = with_config(site(body), ran=True)
    failing = (("the probe: HTTP 503",), (Request("/", symptom="http-5xx"),))
    assert diagnose(facts, *failing).cause != "rate-limited"  # type: ignore[arg-type]
    said = '[error] 54#54: *6 limiting requests, excess: 5.100 by zone "one", client: 172.17.0.1'
    limited = diagnose(replace(facts, error_log=(said,)), *failing)  # type: ignore[type-var]
    assert limited.cause == "rate-limited", limited.summary
    assert "limit_req zone=one burst=5 (/etc/nginx/sites-available/default:5)" in limited.summary


def test_an_enabled_site_that_no_include_reads_is_named_with_the_folder_nginx_no_longer_reads() -> None:
    conf = DEBIAN_NGINX_CONF.replace("\tinclude /etc/nginx/sites-enabled/*;", "\t#include /etc/nginx/sites-enabled/*;")
    extra = {"/etc/nginx/nginx.conf": conf, "/etc/nginx/conf.d/README": "# an empty conf.d, as Debian ships it\n"}
    raw = site("server {\n listen 80 default_server;\n root /var/www/html;\n}\n", **extra)
    facts = replace(with_config(raw, ran=True), listeners=())  # type: ignore[type-var]
    diagnosis = diagnose(facts, ("the probe: connection reset",), (Request("/", symptom="refused"),))  # type: ignore[arg-type]
    assert diagnosis.cause == "sites-not-included", diagnosis.summary
    assert "/etc/nginx/sites-enabled/default is enabled" in diagnosis.summary
    assert "names /etc/nginx/sites-enabled/" in diagnosis.summary


def test_a_redirect_the_failing_request_got_instead_of_the_page_is_where_it_breaks() -> None:
    body = "server {\n listen 80;\n root /var/www/html;\n location = / {\n  return 302 /maintenance.html;\n }\n}\n"
    facts = with_config(site(body), ran=True)
    redirected = trace(facts, facts.inside, Request("/", symptom="not-our-server")).broken  # type: ignore[attr-defined]
    assert redirected is not None and redirected.what == "return" and "302 /maintenance.html" in redirected.detail
    # A request that failed some other way is not blamed on a redirect that may be by design.
    assert trace(facts, facts.inside, Request("/", symptom="http-5xx")).steps[-1].ok  # type: ignore[attr-defined]


def test_if_blocks_are_kept_with_what_they_do_and_the_file_they_test_is_looked_at() -> None:
    body = (
        "server {\n listen 80;\n root /srv/site;\n if ($host = old.example) { return 301 https://example.org; }\n"
        " location / {\n  if (-f $document_root/maintenance.html) { return 503; }\n }\n}\n"
    )
    model = parse_tree(site(body))
    server = model.servers[0]
    assert [c.label() for c in server.conditionals] == ["if ($host = old.example)"]
    (block,) = server.locations[0].conditionals
    assert block.get("return") is not None and block.get("return").args == ("503",)  # type: ignore[union-attr]
    assert str(block.where) == "/etc/nginx/sites-available/default:6"
    assert "/srv/site/maintenance.html" in plan(model).paths


def test_an_index_linked_where_the_worker_cannot_read_is_unreadable_not_missing() -> None:
    # ln -s /root/index.html: the link itself is 777; reading through it needs /root, which is 700.
    link = PathStat("/var/www/html/index.html", True, "symbolic link", "777", "root", False, False)
    facts = _web_root_with(link)
    diagnosis = diagnose(facts, ("the probe: HTTP 403",), (Request("/", symptom="http-4xx"),))  # type: ignore[arg-type]
    assert diagnosis.cause == "web-root-unreadable", diagnosis.summary
    assert "symbolic link that www-data cannot read through" in diagnosis.summary
    facts = _web_root_with(replace(link, readable=True))
    assert trace(facts, facts.inside, Request("/")).broken is None  # type: ignore[attr-defined]
