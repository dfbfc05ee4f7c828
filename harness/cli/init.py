"""`harness init DIR [--from CONTAINER]`: adopt a real server's nginx, or start from a commented example."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path, PurePosixPath

import click

from harness import engine
from harness.check import find_container
from harness.cli import PASSED, cli, progress
from harness.errors import InvalidInput
from harness.server_paths import CONF_ROOT, SITES_AVAILABLE
from harness.site import SETTINGS, load_site

EXAMPLE_SITE = """# An example site for `harness drill --site DIR`: edit it, or replace this tree with your own
# (`harness init DIR --from CONTAINER` copies it from a running server).
server {
    listen 80 default_server;
    server_name example.test;

    # No content for this root in the tree? harness generates a page there.
    root /var/www/example;
    index index.html;

    location / {
        try_files $uri $uri/ =404;
    }

    # An upstream inside the server gets a stub that answers there (or your own command: see the settings).
    location /api/ {
        proxy_pass http://127.0.0.1:8080/;
    }
}
"""

EXAMPLE_SETTINGS = """# harness settings for this site (all optional). Unknown keys are refused, naming the line.

# Probes: derived from the configuration (each server name's / and every proxied location on ports
# 80 and 443). "add" (the default) adds the ones below; "replace" uses only these.
# probes = "add"

# [[probe]]
# path = "/health"
# host = "example.test"
# scheme = "http"          # or "https"
# status = 200
# body = "ok"              # text the body contains (or body_regex = "...")
# headers = { "Cache-Control" = "no-store" }

# Content: a root in the server, filled from a folder here (else a page is generated).
# [content]
# "/var/www/example" = "content/var/www/example"

# Upstreams: run your own command as an upstream instead of harness's stub.
# [upstreams]
# "127.0.0.1:8080" = "python3 -m http.server 8080 --bind 127.0.0.1"
"""


@cli.command("init")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--from", "container", metavar="CONTAINER", default=None, help="Copy /etc/nginx and its roots from it.")
def init_command(folder: Path, container: str | None) -> int:
    """Write a site tree for `--site DIR`: a commented example, or a running server's configuration and content."""
    if folder.exists() and any(folder.iterdir()):
        raise InvalidInput(f"{folder} is not empty; give a new folder for the site tree")
    folder.mkdir(parents=True, exist_ok=True)
    if container is None:
        (folder / "sites-available").mkdir()
        (folder / "sites-enabled").mkdir()
        (folder / "sites-available" / "example").write_text(EXAMPLE_SITE)
        os.symlink(f"{SITES_AVAILABLE}/example", folder / "sites-enabled" / "example")
        (folder / SETTINGS).write_text(EXAMPLE_SETTINGS)
        progress(f"wrote an example site in {folder}; drill it with: harness drill --all --site {folder}")
        return PASSED
    client = engine.connect()
    try:
        server = find_container(client, container)
        _extract(server.archive(CONF_ROOT), folder, strip="nginx/")
        site = load_site(folder)
        content = []
        for root in sorted(_roots(site)):
            try:
                data = server.archive(root)
            except InvalidInput:
                continue  # a root the server does not have: harness generates a page there
            local = folder / "content" / root.strip("/")
            _extract(data, local.parent, strip="")
            content.append((root, f"content/{root.strip('/')}"))
        lines = [f'"{root}" = "{local}"' for root, local in content]
        settings = EXAMPLE_SETTINGS + ("\n[content]\n" + "\n".join(lines) + "\n" if lines else "")
        (folder / SETTINGS).write_text(settings)
    finally:
        client.close()
    progress(f"copied {CONF_ROOT} and {len(content)} root(s) from {container} into {folder}")
    progress(f"drill it with: harness drill --all --site {folder}")
    return PASSED


def _roots(site: object) -> set[str]:
    from harness.semantics import effective
    from harness.site import Site

    assert isinstance(site, Site)
    found = set()
    for server in site.model.servers:
        for location in (None, *server.locations):
            roots = effective(server, location, "root", site.model)
            alias = location.get("alias") if location is not None else None
            base = alias.args[0] if alias is not None and alias.args else roots[0] if roots else None
            if base and "$" not in base and base.startswith("/") and base.rstrip("/"):
                found.add(base.rstrip("/"))
    return found


def _extract(data: bytes, into: Path, strip: str) -> None:
    """Regular files, folders and symlinks (kept as written, never followed); nothing outside INTO."""
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive:
            name = member.name[len(strip) :] if strip and member.name.startswith(strip) else member.name
            if strip and member.name.rstrip("/") == strip.rstrip("/"):
                continue
            parts = PurePosixPath(name).parts
            if not parts or name.startswith("/") or ".." in parts:
                continue
            target = into.joinpath(*parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.issym():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(member.linkname, target)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = archive.extractfile(member)
                target.write_bytes(extracted.read() if extracted is not None else b"")
