"""Real site trees accepted as teams write them: what nginx -t needs outside the tree, users, upstream groups,
pages that do not change the handler, and bad input in the tree or its settings (issue 22)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.cli import BAD_INPUT
from harness.errors import InvalidInput
from harness.session import Session
from harness.site import load_settings, load_site
from harness.site_needs import needs
from tests.helpers import containers_of_run, fresh_run_id, run_harness

SITES = Path(__file__).parent / "sites"
NO_ENGINE = "unix:///nonexistent.sock"


def _made(site: str) -> dict[str, tuple[str, str]]:
    return {n.path: (n.kind, n.extra[0] if n.extra else "") for n in needs(load_site(SITES / site).model)}


def _tree(tmp_path: Path, files: dict[str, str | bytes], settings: str | bytes = "") -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else textwrap.dedent(text).encode())
    if settings:
        raw = settings if isinstance(settings, bytes) else textwrap.dedent(settings).encode()
        (tmp_path / "harness-site.toml").write_bytes(raw)
    return tmp_path


# -- what the tree needs outside /etc/nginx (pure: the model in, the list out) ---------------------------------


def test_certbots_files_are_stood_in_for() -> None:
    made = _made("certbot")
    live = "/etc/letsencrypt/live/example.com"
    assert made[f"{live}/fullchain.pem"] == ("certificate", f"{live}/privkey.pem")
    assert made[f"{live}/chain.pem"] == ("copy-of-certificate", f"{live}/fullchain.pem")
    assert made["/etc/letsencrypt/ssl-dhparams.pem"] == ("file", "ssl-dhparams.pem")
    assert made["/etc/letsencrypt/options-ssl-nginx.conf"] == ("file", "options-ssl-nginx.conf")


def test_password_files_are_stood_in_for_empty(tmp_path: Path) -> None:
    site = "server { listen 80; location / { auth_basic on; auth_basic_user_file /etc/secrets/htpasswd; } }\n"
    made = {n.path: n.extra for n in needs(load_site(_tree(tmp_path, {"conf.d/s.conf": site})).model)}
    assert made["/etc/secrets/htpasswd"] == ("empty",)


def test_the_official_images_layout_gets_its_user_and_its_pages() -> None:
    made = _made("official")
    assert made["nginx"] == ("user", "nginx")
    # root inside the location; the 50x page an error_page names (a missing one turns a 502 into a 404)
    assert made["/usr/share/nginx/html/index.html"][0] == "page"
    assert made["/usr/share/nginx/html/50x.html"][0] == "page"


def test_folders_the_configuration_makes_nginx_use_are_made(tmp_path: Path) -> None:
    made = _made("inline")
    for folder in ("/var/log/nginx/app", "/var/cache/nginx/app", "/var/cache/nginx/app-temp"):
        assert made[folder][0] == "folder", folder
    conf = "pid /run/web/nginx.pid;\nevents {}\nhttp { server { listen 80; } }\n"
    assert ("/run/web", "folder") in {
        (n.path, n.kind) for n in needs(load_site(_tree(tmp_path, {"nginx.conf": conf})).model)
    }


FALLS_THROUGH = {
    "conf.d/app.conf": """
    upstream app { server 127.0.0.1:3000; }
    server {
        listen 80;
        server_name app.example.com;
        root /srv/app/public;
        location / { try_files $uri $uri/ @app; }
        location /assets/ { expires 7d; }
        location @app { proxy_pass http://app; }
    }
    """
}


def test_a_page_is_generated_only_where_nginx_itself_answers(tmp_path: Path) -> None:
    # `try_files $uri $uri/ @app`: the app answers `/`; a generated page, or even the root folder, would take it.
    made = {n.path: n.kind for n in needs(load_site(_tree(tmp_path, FALLS_THROUGH)).model)}
    assert not [path for path, kind in made.items() if kind == "page"], made
    # A fallback URI (a single-page app's /index.html) is generated: nginx itself serves it.
    assert _made("inline")["/srv/app/public/index.html"][0] == "page"
    # WordPress: `/` falls back to /index.php, which the FastCGI handler needs to exist; no index.html beside it.
    pages = [path for path, (kind, _) in _made("wordpress").items() if kind == "page"]
    assert pages == ["/var/www/wordpress/index.php"]


def test_a_proxy_to_nginx_itself_gets_no_stub(tmp_path: Path) -> None:
    site = "server { listen 80; listen 8080; location / { proxy_pass http://127.0.0.1:8080; } }\n"
    assert load_site(_tree(tmp_path, {"conf.d/s.conf": site})).upstreams() == []


def test_the_servers_of_one_upstream_group_answer_alike() -> None:
    upstreams = load_site(SITES / "inline").upstreams()
    assert len(upstreams) == 4 and {u.name for u in upstreams} == {"app"}
    assert len({u.service for u in upstreams}) == 4  # four stubs, one page


# -- bad input: one line, exit 2 ----------------------------------------------------------------------------------

SITE = {"conf.d/s.conf": "server { listen 80; }\n"}


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ('[[probe]]\npath = "/"\nstaus = 200\n', ":3: unknown key 'staus' in probe 1"),
        ('probes = "all"\n', ":1: probes = 'all': use 'add' or 'replace'"),
        ('[[probe]]\npath = "health"\n', ":2: probe 1: path must start with '/'"),
        ("[[probe]]\nstatus = 99\n", ":2: probe 1: status must be an HTTP status code"),
        ('[[probe]]\nbody_regex = "("\n', ":2: probe 1: body_regex: '(' does not compile"),
        ('[content]\n"srv" = "x"\n', ":2: content: 'srv' is not an absolute path in the server"),
        ('[upstreams]\n"a b:1" = "x"\n', ":2: upstreams: 'a b:1' is not host:port"),
        ('[upstreams]\n"a:1" = " "\n', ":2: upstreams: 'a:1' must be a non-empty command"),
        ("colour = 1\n", ":1: unknown key 'colour'"),
        (b'probes = "add"\n# caf\xe9\n', ":2: byte 0xe9 is not UTF-8"),
    ],
)
def test_a_bad_settings_file_is_one_line_naming_the_field(tmp_path: Path, settings: str | bytes, said: str) -> None:
    folder = _tree(tmp_path, SITE, settings)
    with pytest.raises(InvalidInput) as caught:
        load_settings(folder)
    assert str(caught.value).startswith(f"{folder / 'harness-site.toml'}{said}"), caught.value


def test_a_settings_file_that_is_not_utf8_is_one_line_and_exit_2(tmp_path: Path) -> None:
    folder = _tree(tmp_path, SITE, b'[[probe]]\nbody = "\xff\xfe"\n')
    done = run_harness("list", "--site", str(folder), DOCKER_HOST=NO_ENGINE)
    assert done.returncode == BAD_INPUT and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "harness-site.toml:2: byte 0xff is not UTF-8" in line


def test_a_binary_file_nginx_would_read_is_named_without_its_bytes(tmp_path: Path) -> None:
    folder = _tree(tmp_path, {**SITE, "conf.d/blob.conf": b"\x7fELF\x02\x01\x01\x00\x1b[31m\x00\x00"})
    done = run_harness("drill", "nginx-stopped", "--site", str(folder), DOCKER_HOST=NO_ENGINE)
    assert done.returncode == BAD_INPUT
    (line,) = done.stderr.strip().splitlines()
    assert f"{folder}/conf.d/blob.conf is not a text file" in line
    assert not any(ord(c) < 32 or ord(c) == 127 for c in line)


@pytest.mark.parametrize(
    ("files", "said"),
    [
        ({"conf.d/s.conf": "server {\n  listen 80;\n  include /etc/nginx/snippets/gone.conf;\n}\n"}, "gone.conf"),
        ({"conf.d/s.conf": "server {\n  listen 80;\n"}, "unexpected end of file"),
        ({"conf.d/s.conf": "server { listen 8080; }\n"}, "serves neither port 80 nor 443"),
        (
            {"conf.d/s.conf": "server { listen 80; location / { proxy_pass http://backend.internal; } }\n"},
            "shares port 80 with nginx itself",
        ),
    ],
    ids=["missing-include", "unbalanced", "no-port-80", "upstream-on-nginx-port"],
)
def test_list_says_what_the_drill_would_refuse(tmp_path: Path, files: dict[str, str], said: str) -> None:
    folder = _tree(tmp_path, files)
    for command in ("list", "drill"):
        scenario = ["nginx-stopped"] if command == "drill" else []
        done = run_harness(command, *scenario, "--site", str(folder), DOCKER_HOST=NO_ENGINE)
        assert done.returncode == BAD_INPUT, (command, done.stdout[-500:])
        (line,) = done.stderr.strip().splitlines()
        assert said in line, (command, line)


# -- in a real target ------------------------------------------------------------------------------------------------


@pytest.mark.docker
def test_certbots_layout_preflights_saying_what_was_made() -> None:
    with Session(site=load_site(SITES / "certbot")) as session:
        notes = session.preflight()
    said = "\n".join(notes)
    made = ("fullchain.pem and its key", "chain.pem, a copy of the self-signed", "ssl-dhparams.pem (harness's")
    for what in (*made, "options-ssl-nginx.conf (harness's"):
        assert what in said, said
    assert "probe HTTPS example.com/: HTTP 200" in said and "probe GET example.com/: HTTP 301" in said


@pytest.mark.docker
def test_the_users_a_tree_names_are_created_and_nginx_runs_as_them() -> None:
    with Session(site=load_site(SITES / "official")) as session, session.new_target() as target:
        assert any("user nginx (user at /etc/nginx/nginx.conf:2)" in n for n in target.site_notes), target.site_notes
        workers = target.exec(["ps", "-o", "user=", "-C", "nginx"]).stdout.split()
        assert "nginx" in workers, workers
        # The 50x page exists, so a 502 stays a 502 (not a 404 for a missing error page).
        assert target.exec(["test", "-s", "/usr/share/nginx/html/50x.html"]).ok


@pytest.mark.docker
def test_four_sockets_of_one_upstream_answer_one_page() -> None:
    with Session(site=load_site(SITES / "inline")) as session, session.new_target() as target:
        pages = {
            target.exec(["curl", "-s", "--unix-socket", f"/run/app/worker-{n}.sock", "http://x/"]).stdout
            for n in range(1, 5)
        }
        assert len(pages) == 1 and "for app" in pages.pop()


@pytest.mark.docker
def test_an_https_upstream_by_name_resolves_to_a_stub_that_speaks_tls(tmp_path: Path) -> None:
    site = "server { listen 80; location / { proxy_pass https://api.example.net:8443; } }\n"
    with Session(site=load_site(_tree(tmp_path, {"conf.d/s.conf": site}))) as session:
        notes = session.preflight()
    said = "\n".join(notes)
    assert "api.example.net resolves to 127.0.0.1 in /etc/hosts" in said, said
    assert "upstream api.example.net:8443 (https" in said and "probe GET /: HTTP 200" in said, said


@pytest.mark.docker
def test_a_request_that_falls_through_to_the_app_still_reaches_it(tmp_path: Path) -> None:
    with Session(site=load_site(_tree(tmp_path, FALLS_THROUGH))) as session, session.new_target() as target:
        (check,) = target.checks
        assert check.status == 200 and "harness-stub for app" in check.marker, check


@pytest.mark.docker
def test_an_upstream_command_that_fails_says_its_exit_code_and_output(tmp_path: Path) -> None:
    folder = _tree(
        tmp_path,
        {"conf.d/s.conf": "server { listen 80; location / { proxy_pass http://127.0.0.1:3000; } }\n"},
        '[upstreams]\n"127.0.0.1:3000" = "sh -c \'echo cannot find module express; exit 7\'"\n',
    )
    run_id = fresh_run_id("upfail")
    done = run_harness("drill", "nginx-stopped", "--site", str(folder), HARNESS_RUN_ID=run_id)
    assert done.returncode == BAD_INPUT, done.stderr[-1000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("harness:")]
    assert len(lines) == 1, done.stderr
    assert "upstream 3000 did not start: it exited with code 7" in lines[0]
    assert "cannot find module express" in lines[0]
    assert containers_of_run(run_id) == []


# -- a large configuration ------------------------------------------------------------------------------------------


def _blocklist(tmp_path: Path, lines: int) -> Path:
    rules = "".join(f"    deny 10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256};\n" for n in range(lines))
    site = "server {\n  listen 80;\n  location / {\n    include /etc/nginx/block.conf;\n  }\n}\n"
    return _tree(tmp_path, {"conf.d/site.conf": site, "block.conf": rules})


def test_reading_a_large_configuration_takes_memory_in_proportion_to_it(tmp_path: Path) -> None:
    import tracemalloc

    from harness.confmodel import parse_tree
    from harness.site import _with_distribution

    folder = _blocklist(tmp_path, 40_000)
    site = load_site(folder)
    tree = _with_distribution(site.tree, False)
    tracemalloc.start()
    try:
        model = parse_tree(tree)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (location,) = model.servers[0].locations
    assert len(location.directives) == 40_000 and location.directives[-1].where.line == 40_000
    # crossplane's payload took 36 times the configuration's size (72 MB for a 2 MB blocklist); one slotted
    # object per directive, each parsed statement let go once read, takes under 20.
    assert peak < 20 * len(tree), f"{peak / len(tree):.1f} times the configuration's size"


def test_the_fast_reader_reads_as_crossplane_does(tmp_path: Path) -> None:
    import crossplane

    from harness.conflex import parse_text

    text = textwrap.dedent(
        r"""
        if ($http_user_agent ~* "(bot|crawler)") { return 403; }   # a comment
        map $uri $x { ~^/a\.b "q\"uote"; default 'sq'; "" empty; }
        add_header X-A "a b"c;
        rewrite ^/(.*)$ /x?${arg_a}b last;
        set $a "two
        lines";
        location ~ "^/(?<n>[a-z]{2,3})/" { try_files $uri#x =404; }
        """
    )
    files = [tmp_path / "t.conf", *sorted(SITES.glob("*/*/*")), *sorted(SITES.glob("*/nginx.conf"))]
    files[0].write_text(text)
    for path in files:
        if path.is_symlink() or not path.is_file():
            continue
        theirs = crossplane.parse(str(path), single=True, check_ctx=False, check_args=False)
        mine, errors = parse_text(path.read_text())
        assert [s.payload() for s in mine] == theirs["config"][0]["parsed"], path
        assert not errors and not theirs["errors"]


def test_a_teams_dot_files_go_in_with_the_tree_and_a_checkouts_do_not(tmp_path: Path) -> None:
    """/etc/nginx/.htpasswd is where auth_basic_user_file often points; .git and editor files are not the site's."""
    import io
    import tarfile

    site = """
    server {
        listen 80 default_server;
        location /admin/ { auth_basic "Restricted"; auth_basic_user_file /etc/nginx/.htpasswd; }
    }
    """
    files = {"conf.d/s.conf": site, ".htpasswd": "ops:$apr1$x$y\n", ".git/HEAD": "ref\n", "conf.d/s.conf.swp": "x"}
    loaded = load_site(_tree(tmp_path, files))
    with tarfile.open(fileobj=io.BytesIO(loaded.tree)) as archive:
        names = archive.getnames()
    assert "etc/nginx/.htpasswd" in names
    assert not [n for n in names if ".git" in n or n.endswith(".swp")]
