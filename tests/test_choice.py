"""What scenarios break on a team's site: chosen by tracing the probes' requests through the configuration.

Pure tests (no Docker): each builds a site tree, and checks what the catalogue would break there and which
scenarios say they do not apply, and why.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from harness.catalogue import load_catalogue
from harness.choice import choose, free_port, missing
from harness.route import Line
from harness.site import Site, load_site
from scenarios._edit import swap, with_port

SITES = Path(__file__).parent / "sites"


def site(tmp_path: Path, config: str, settings: str = "", layout: str = "sites") -> Site:
    """A tree with one site file (a sites-enabled link, or conf.d/NAME.conf) and optional settings."""
    if layout == "sites":
        (tmp_path / "sites-available").mkdir()
        (tmp_path / "sites-enabled").mkdir()
        (tmp_path / "sites-available" / "app").write_text(textwrap.dedent(config))
        os.symlink("/etc/nginx/sites-available/app", tmp_path / "sites-enabled" / "app")
    else:
        (tmp_path / "conf.d").mkdir()
        (tmp_path / "conf.d" / "default.conf").write_text(textwrap.dedent(config))
    if settings:
        (tmp_path / "harness-site.toml").write_text(textwrap.dedent(settings))
    return load_site(tmp_path)


def why_not(scenario: str, on: Site) -> str:
    return missing(load_catalogue().scenarios[scenario].needs, on)


ADMIN_BEFORE_API = """
    upstream api_pool {
        server 127.0.0.1:4001;
        server 127.0.0.1:4002;
    }
    server {
        listen 80 default_server;
        server_name shop.test;
        location /admin/ { proxy_pass http://127.0.0.1:5000/; }
        location /api/ { proxy_pass http://api_pool/; }
        location / { return 200 "ok"; }
    }
"""


def test_upstream_port_breaks_the_line_a_probe_uses_not_the_first_in_the_file(tmp_path: Path) -> None:
    only_api = '[[probe]]\npath = "/api/"\nhost = "shop.test"\nprobes = "replace"\n'
    chosen = choose(
        site(tmp_path, ADMIN_BEFORE_API, 'probes = "replace"\n' + only_api.replace('probes = "replace"\n', ""))
    )
    # Every server of the block the probe's request goes to: moving one, nginx would use the other.
    assert chosen.upstream_lines == (
        Line("/etc/nginx/sites-available/app", 3, "127.0.0.1:4001"),
        Line("/etc/nginx/sites-available/app", 4, "127.0.0.1:4002"),
    )
    assert chosen.upstream_probe == "http://shop.test/api/"


@pytest.mark.parametrize(
    ("location", "address", "line"),
    [
        ("fastcgi_pass unix:/run/php/fpm.sock;", "unix:/run/php/fpm.sock", 6),
        ("fastcgi_pass 127.0.0.1:9001;", "127.0.0.1:9001", 6),
        ("proxy_pass http://unix:/run/app.sock:/;", "unix:/run/app.sock", 6),
        ("proxy_pass http://sock;", "unix:/run/pool.sock", 2),
    ],
)
def test_unix_sockets_and_fastcgi_count_as_upstreams(tmp_path: Path, location: str, address: str, line: int) -> None:
    config = f"""
    upstream sock {{ server unix:/run/pool.sock; }}
    server {{
        listen 80; server_name a.test;
        location /app/ {{
            {location}
        }}
    }}
    """
    chosen = choose(site(tmp_path, config))
    assert [(u.arg, u.line) for u in chosen.upstream_lines] == [(address, line)]
    assert not why_not("upstream-port", load_site(tmp_path))


def test_a_location_level_root_is_what_root_missing_edits(tmp_path: Path) -> None:
    # The official image's conf.d/default.conf: the root is set inside `location /`.
    official = """
    server {
        listen       80;
        server_name  localhost;
        location / {
            root   /usr/share/nginx/html;
            index  index.html index.htm;
        }
        error_page   500 502 503 504  /50x.html;
        location = /50x.html {
            root   /usr/share/nginx/html;
        }
    }
    """
    on = site(tmp_path, official, layout="conf.d")
    chosen = choose(on)
    assert chosen.root_line == Line("/etc/nginx/conf.d/default.conf", 6, "/usr/share/nginx/html")
    assert chosen.file == "/usr/share/nginx/html/index.html" and chosen.static_index
    assert not why_not("root-missing", on) and not why_not("index-unreadable", on)


def test_an_alias_a_probe_reads_is_a_root(tmp_path: Path) -> None:
    config = """
    server {
        listen 80; server_name a.test;
        location / { proxy_pass http://127.0.0.1:3000; }
        location /static/ { alias /srv/assets/; }
    }
    """
    probe = '[[probe]]\npath = "/static/app.css"\nhost = "a.test"\nstatus = 404\n'
    chosen = choose(site(tmp_path, config, probe))
    assert chosen.root == "/srv/assets" and chosen.root_line is not None and chosen.root_line.arg == "/srv/assets/"
    assert chosen.file == "/srv/assets/app.css"


@pytest.mark.parametrize(
    ("fallback", "reads_root"),
    [
        ("try_files /dev/null @api;", False),
        ("try_files $uri @api;", False),  # `$uri` of `/` is a folder, and a form without a slash tests for a file
        # `$uri/` holds, the index is /index.html, whose own `$uri/` does not: the app answers, root or not.
        ("try_files $uri/ @api;", False),
        ("try_files $uri $uri/ @api;", True),  # /index.html is a file here: nginx serves it itself
    ],
)
def test_static_scenarios_do_not_apply_where_every_probe_goes_to_the_app(
    tmp_path: Path, fallback: str, reads_root: bool
) -> None:
    config = f"""
    server {{
        listen 80; server_name a.test;
        root /var/www/a;
        location / {{ {fallback} }}
        location @api {{ proxy_pass http://127.0.0.1:3000; }}
    }}
    """
    on = site(tmp_path, config)
    chosen = choose(on)
    if not reads_root:
        assert chosen.upstream_lines[0].arg == "127.0.0.1:3000"  # the named location is the handler
    for name in ("web-root-permissions", "parent-dir-locked", "root-missing", "index-unreadable"):
        said = why_not(name, on)
        assert bool(said) is not reads_root, (name, said)
        if said:
            assert "probe" in said


def test_a_php_index_handed_to_fastcgi_is_not_a_static_page(tmp_path: Path) -> None:
    on = load_site(SITES / "php")
    chosen = choose(on)
    assert chosen.root == "/var/www/php" and not chosen.static_index  # / becomes /index.php, which FastCGI runs
    # / reaches FastCGI only through try_files and the index; /legacy/ proxies itself, the plainer fault.
    assert chosen.upstream_lines[0].arg == "127.0.0.1:9001" and chosen.upstream_probe == "http://php.example/legacy/"
    assert "index page nginx serves itself" in why_not("index-unreadable", on)


LISTENS = [
    "listen *:80 default_server;",
    "listen          80;",
    "listen [::]:80 ipv6only=on;",
    "listen 80 default_server;\n    listen [::]:80 default_server;",
    "listen 0.0.0.0:80 backlog=511;",
    "listen 80;\n    listen unix:/run/nginx/status.sock;",  # the socket is no port to move
]


def test_a_server_only_loopback_reaches_is_nothing_the_listen_scenarios_move(tmp_path: Path) -> None:
    # No client outside the server reaches `listen 127.0.0.1:80`, so no probe goes there and nothing is moved.
    on = site(
        tmp_path, "server { listen 127.0.0.1:80; server_name a.test; location / { proxy_pass http://127.0.0.1:8080; } }"
    )
    for name in ("listen-8080", "stale-site-copy"):
        assert "probes: none" in why_not(name, on), name


@pytest.mark.parametrize("listen", LISTENS)
def test_listen_lines_as_people_write_them_are_moved_to_a_port_nothing_uses(tmp_path: Path, listen: str) -> None:
    config = f"""
    server {{
        {listen}
        server_name a.test;
        location / {{ proxy_pass http://127.0.0.1:8080; }}
        location /b/ {{ proxy_pass http://127.0.0.1:8081; }}
    }}
    """
    on = site(tmp_path, config)
    chosen = choose(on)
    assert chosen.listen_lines and not why_not("listen-8080", on) and not why_not("stale-site-copy", on)
    assert chosen.free_port == 8082  # 8080 and 8081 are the site's upstreams
    text = on.model.contents[chosen.site_file]
    for line in chosen.listen_lines:
        text = swap(text, line, line.arg, with_port(line.arg, chosen.free_port))
    assert ":80;" not in text and " 80;" not in text and " 80 " not in text
    assert text.count("8082") == len(chosen.listen_lines)


def test_a_port_the_settings_commands_use_is_not_free(tmp_path: Path) -> None:
    config = "server { listen 80; server_name a.test; location / { proxy_pass http://127.0.0.1:3000; } }"
    settings = '[upstreams]\n"127.0.0.1:3000" = "node server.js --port 3000 --metrics-port 8080"\n'
    assert choose(site(tmp_path, config, settings)).free_port == 8081
    assert free_port({8080, 8081, 8083}) == 8082


def test_the_init_example_moves_away_from_its_own_upstream_port(tmp_path: Path) -> None:
    from harness.cli.init import EXAMPLE_SITE

    chosen = choose(site(tmp_path, EXAMPLE_SITE))
    assert chosen.upstream_lines[0].arg == "127.0.0.1:8080" and chosen.free_port == 8081


def test_list_says_the_same_as_the_drill_for_the_test_sites() -> None:
    """A scenario that applies has what it edits (the drill would not refuse it)."""
    catalogue = load_catalogue()
    for folder in sorted(p for p in SITES.iterdir() if p.is_dir()):
        on = load_site(folder)
        chosen = choose(on)
        for name, cls in catalogue.scenarios.items():
            if missing(cls.needs, on):
                continue
            if "root-line" in cls.needs:
                assert chosen.root_line is not None, (folder.name, name)
            if "upstream" in cls.needs:
                assert chosen.upstream_lines, (folder.name, name)
            if "listen-80" in cls.needs:
                assert chosen.listen_lines, (folder.name, name)


class _Described:
    """Just enough of a target for Scenario.describe: its choice, and `ss` finding nothing bound."""

    def __init__(self, on: Site) -> None:
        self.choice = choose(on)
        self.site = on

    def exec(self, argv: list[str], **_: object) -> object:
        class Done:
            stdout = ""

        return Done()


def test_every_summary_on_a_site_names_what_was_broken_there() -> None:
    on = load_site(SITES / "multiproxy")
    target = _Described(on)
    catalogue = load_catalogue()
    said = {}
    for name, cls in catalogue.scenarios.items():
        if missing(cls.needs, on):
            continue
        said[name] = cls().describe(target)  # type: ignore[arg-type]
        assert "sites-available/default" not in said[name] and "/var/www/html" not in said[name], (name, said[name])
    assert "sites-available/app.example.com:31: /var/www/assets switched to" in said["root-missing"]
    assert "sites-enabled/app.example.com link deleted" in said["missing-symlink"]
    assert "/var/www/assets/static/app.css left as 0600" in said["index-unreadable"]
    assert "the document root /var/www/assets loses" in said["web-root-permissions"]
    assert "sites-available/app.example.com edited to listen on 8080" in said["listen-8080"]
    assert "unix:/run/admin/admin.sock -> unix:/run/admin/old-admin.sock" in said["upstream-port"]
    assert "http://app.example.com/admin/" in said["upstream-port"]


def test_a_relative_include_of_sites_enabled_is_what_include_typo_edits(tmp_path: Path) -> None:
    conf = (SITES.parent.parent / "harness" / "sitedata" / "etc-nginx" / "nginx.conf").read_text()
    relative = conf.replace("include /etc/nginx/sites-enabled/*;", "include sites-enabled/*;")
    assert relative != conf
    on = site(tmp_path, "server { listen 80; server_name a.test; root /srv/a; }")
    (tmp_path / "nginx.conf").write_text(relative)
    on = load_site(tmp_path)
    line = choose(on).sites_include
    assert line is not None and line.arg == "sites-enabled/*" and line.file == "/etc/nginx/nginx.conf"
    assert swap(relative, line, line.arg, "site-enabled/*").count("include site-enabled/*;") == 1


def test_a_copied_file_in_sites_enabled_is_not_a_link_to_remove(tmp_path: Path) -> None:
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "sites-enabled" / "copy").write_text("server { listen 80; server_name a.test; root /srv/a; }\n")
    on = load_site(tmp_path)
    assert "sites-enabled" in why_not("missing-symlink", on) and "sites-enabled" in why_not("dangling-symlink", on)
    assert not why_not("root-missing", on)


def test_a_server_without_a_listen_line_has_none_to_move(tmp_path: Path) -> None:
    on = site(tmp_path, "server { server_name a.test; root /srv/a; }")  # nginx's default: *:80
    assert "'listen 80' line" in why_not("listen-8080", on)
    assert not why_not("missing-symlink", on)


def test_log_dir_missing_needs_a_log_under_var_log_nginx(tmp_path: Path) -> None:
    conf = (SITES.parent.parent / "harness" / "sitedata" / "etc-nginx" / "nginx.conf").read_text()
    elsewhere = conf.replace("/var/log/nginx/", "/srv/logs/")
    assert elsewhere != conf and "/var/log/nginx" not in elsewhere
    on = site(tmp_path, "server { listen 80; server_name a.test; root /srv/a; }")
    assert not why_not("log-dir-missing", on)
    (tmp_path / "nginx.conf").write_text(elsewhere)
    assert "/var/log/nginx" in why_not("log-dir-missing", load_site(tmp_path))


@pytest.mark.parametrize(
    ("php", "reads_root"), [("include fastcgi_params;", False), ("include snippets/fastcgi-php.conf;", True)]
)
def test_a_wordpress_root_matters_only_where_nginx_tests_the_script(tmp_path: Path, php: str, reads_root: bool) -> None:
    """WordPress: everything falls back to /index.php. Without a test of the script, FastCGI gets every request
    whether the root is there or not; the distribution's snippet tests it (try_files $fastcgi_script_name =404)."""
    config = f"""
    server {{
        listen 80; server_name blog.test;
        root /var/www/wordpress;
        index index.php;
        location / {{ try_files $uri $uri/ /index.php?$args; }}
        location ~ \\.php$ {{
            {php}
            fastcgi_pass unix:/run/php/php-fpm.sock;
        }}
    }}
    """
    on = site(tmp_path, config)
    assert choose(on).upstream_lines[0].arg == "unix:/run/php/php-fpm.sock"
    assert bool(why_not("web-root-permissions", on)) is not reads_root
    assert "index page nginx serves itself" in why_not("index-unreadable", on)


NEXTCLOUD = r"""
upstream php-handler { server 127.0.0.1:9000; }
server {
    listen 80; listen [::]:80;
    server_name cloud.example.com;
    root /var/www/nextcloud;
    index index.php index.html /index.php$request_uri;
    location = /robots.txt { allow all; log_not_found off; access_log off; }
    location ^~ /.well-known { return 301 /index.php$request_uri; }
    location ~ \.php(?:$|/) {
        fastcgi_split_path_info ^(.+?\.php)(/.*)$;
        set $path_info $fastcgi_path_info;
        try_files $fastcgi_script_name =404;
        include fastcgi_params;
        fastcgi_pass php-handler;
    }
    location ~ \.(?:css|js|svg|gif|png|jpg|ico|wasm|tflite|map)$ { try_files $uri /index.php$request_uri; expires 6M; }
    location / { try_files $uri $uri/ /index.php$request_uri; }
}
"""

MASTODON = """
upstream backend { server 127.0.0.1:3000 fail_timeout=0; }
upstream streaming { server 127.0.0.1:4000 fail_timeout=0; }
server {
    listen 80; listen [::]:80;
    server_name social.example.com;
    root /home/mastodon/live/public;
    location / { try_files $uri @proxy; }
    location ~ ^/(assets|avatars|emoji|headers|packs|shortcuts|sounds|system)/ { try_files $uri =404; }
    location ^~ /api/v1/streaming { proxy_pass http://streaming; }
    location @proxy {
        proxy_set_header Host $host;
        proxy_pass http://backend;
    }
}
"""

GITLAB = """
upstream gitlab-workhorse { server unix:/var/opt/gitlab/gitlab-workhorse/sockets/socket fail_timeout=0; }
server {
    listen *:80 default_server;
    server_name gitlab.example.com;
    server_tokens off;
    location / {
        client_max_body_size 0;
        proxy_pass http://gitlab-workhorse;
    }
}
"""


@pytest.mark.parametrize(
    ("config", "upstream", "static"),
    [
        (NEXTCLOUD, ("127.0.0.1:9000",), True),  # / -> /index.php -> its script tested by try_files
        # / goes to @proxy (the public folder is not what / reads); the streaming API proxies itself: taken first.
        (MASTODON, ("127.0.0.1:4000",), False),
        (GITLAB, ("unix:/var/opt/gitlab/gitlab-workhorse/sockets/socket",), False),
    ],
)
def test_configurations_real_applications_publish(
    tmp_path: Path, config: str, upstream: tuple[str, ...], static: bool
) -> None:
    on = site(tmp_path, config)
    chosen = choose(on)
    assert tuple(u.arg for u in chosen.upstream_lines) == upstream
    assert bool(why_not("web-root-permissions", on)) is not static
    assert not why_not("listen-8080", on) and chosen.free_port == 8080


def test_a_port_bound_in_the_server_now_is_not_free(tmp_path: Path) -> None:
    from scenarios.listen_8080 import unused_port

    on = site(tmp_path, "server { listen 80; server_name a.test; root /srv/a; }")

    class Bound(_Described):
        def exec(self, argv: list[str], **_: object) -> object:
            class Done:
                stdout = (
                    "LISTEN 0 511 0.0.0.0:80 0.0.0.0:*\nLISTEN 0 5 127.0.0.1:8080 0.0.0.0:*\n"
                    if argv[0] == "ss"
                    else ""
                )

            return Done()

    assert choose(on).free_port == 8080
    assert unused_port(Bound(on)) == 8081  # type: ignore[arg-type]


def test_a_deploy_breaks_the_listen_line_nginx_reads_not_a_commented_one(tmp_path: Path) -> None:
    from scenarios._deploy import STAGED, deploy_broken_site

    config = (
        "server {\n    # listen 8000;  (the old port)\n    listen 80;\n    server_name a.test;\n    root /srv/a;\n}\n"
    )
    on = site(tmp_path, config)
    written: dict[str, str] = {}

    class Deploying(_Described):
        def read_file(self, path: str) -> str:
            return on.model.contents[path]

        def write_file(self, path: str, content: str) -> None:
            written[path] = content

    deploy_broken_site(Deploying(on), "--reload")  # type: ignore[arg-type]
    assert "# listen 8000;" in written[STAGED] and "    listen 80\n" in written[STAGED]


def test_an_enabled_site_no_probe_reaches_is_not_what_the_link_scenarios_remove(tmp_path: Path) -> None:
    # The probed site lives in conf.d; sites-enabled holds only a status page on another port.
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "shop.conf").write_text("server { listen 80; server_name shop.test; root /srv/shop; }\n")
    on = site(tmp_path, "server { listen 8081; server_name status.local; location / { return 200; } }")
    assert choose(on).site_name == ""
    for name in ("missing-symlink", "dangling-symlink", "listen-8080", "bad-config-deploy"):
        assert "sites-enabled" in why_not(name, on), name
    assert not why_not("root-missing", on)


@pytest.mark.parametrize(
    ("php", "reads_root"),
    [
        ("include fastcgi_params;\n fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;", True),
        ("include fastcgi.conf;", True),
        ("include fastcgi_params;\n fastcgi_param SCRIPT_FILENAME /srv/app/index.php;", False),
    ],
)
def test_a_fastcgi_script_found_under_the_root_makes_the_root_matter(
    tmp_path: Path, php: str, reads_root: bool
) -> None:
    """PHP-FPM answers 404 "File not found." when SCRIPT_FILENAME ($document_root...) is gone: the root matters there
    even though nginx passes every request on without testing the script."""
    config = f"""
    server {{
        listen 80; server_name blog.test;
        root /var/www/wordpress;
        index index.php;
        location / {{ try_files $uri $uri/ /index.php?$args; }}
        location ~ \\.php$ {{
            {php}
            fastcgi_pass unix:/run/php/php-fpm.sock;
        }}
    }}
    """
    on = site(tmp_path, config)
    assert bool(why_not("root-missing", on)) is not reads_root, why_not("root-missing", on)
    assert bool(why_not("web-root-permissions", on)) is not reads_root
