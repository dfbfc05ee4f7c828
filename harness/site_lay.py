"""Laying a team's tree into a fresh target, and recording how its healthy server answers.

Every value from the tree travels as an argument to a constant script, never
as shell text; the one exception is an upstream command the team wrote in its
own settings file, which runs inside the throwaway target as that upstream.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tarfile
from typing import TYPE_CHECKING

import requests

from harness.engine import Trouble
from harness.errors import InvalidInput
from harness.probe import Check, Outcome, product
from harness.site import PAGE_MARKER, SETTINGS, STANDINS, STUB_MARKER, ProbeSpec, Site, Upstream, probes_for
from harness.site_needs import needs

if TYPE_CHECKING:
    from harness.target import Target

STUB = f'''import http.server, os, socket, socketserver, struct, sys, threading
protocol, where, name = sys.argv[1], sys.argv[2], sys.argv[3]
TEXT = f"{STUB_MARKER} for {{name}}\\n"

def listen():
    if where.startswith("/"):
        if os.path.exists(where): os.unlink(where)
        os.makedirs(os.path.dirname(where), exist_ok=True)
        sock = socket.socket(socket.AF_UNIX); sock.bind(where); os.chmod(where, 0o666)
    else:
        sock = socket.socket(); sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(where)))
    sock.listen(1024)
    return sock

def exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk: raise EOFError
        data += chunk
    return data

def pairs(data):
    found, i = {{}}, 0
    while i < len(data):
        sizes = []
        for _ in range(2):
            if data[i] < 128: sizes.append(data[i]); i += 1
            else: sizes.append(struct.unpack("!I", data[i:i + 4])[0] & 0x7FFFFFFF); i += 4
        found[data[i:i + sizes[0]]] = data[i + sizes[0]:i + sizes[0] + sizes[1]]
        i += sizes[0] + sizes[1]
    return found

def fastcgi(conn):
    # A FastCGI responder: read the request's records up to its empty STDIN, answer with one page. Like PHP-FPM, a
    # SCRIPT_FILENAME that is not there is "File not found." (404): a root taken away shows, as on a real server.
    try:
        rid, params = 1, b""
        while True:
            _, kind, rid, length, padding, _ = struct.unpack("!BBHHBB", exact(conn, 8))
            content = exact(conn, length + padding)[:length]
            if kind == 4: params += content
            if kind == 5 and length == 0: break
        script = pairs(params).get(b"SCRIPT_FILENAME", b"").decode(errors="replace")
        if script and not os.path.isfile(script):
            body = b"Status: 404 Not Found\\r\\nContent-Type: text/html\\r\\n\\r\\nFile not found.\\n"
        else:
            body = ("Status: 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\n" + TEXT).encode()
        record = lambda kind, data: struct.pack("!BBHHBB", 1, kind, rid, len(data), 0, 0) + data
        conn.sendall(record(6, body) + record(6, b"") + record(3, struct.pack("!IB3x", 0, 0)))
    except (EOFError, OSError, struct.error):
        pass
    finally:
        conn.close()

if protocol == "fastcgi":
    sock = listen()
    # PHP-FPM's pool reads the scripts as the site's user, not as root: a root that user cannot enter fails here
    # as it fails on the team's server.
    try:
        import pwd
        account = pwd.getpwnam(sys.argv[4])
        os.setgid(account.pw_gid); os.setuid(account.pw_uid)
    except (IndexError, KeyError):
        pass
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=fastcgi, args=(conn,), daemon=True).start()

class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = TEXT.encode()
        self.send_response(200); self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_POST = do_HEAD = do_GET
    def log_message(self, *args): pass
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # a load burst's 100 clients must queue, not be dropped by a backlog of 5
class UnixServer(Server):
    address_family = socket.AF_UNIX
    def server_bind(self):
        socketserver.TCPServer.server_bind(self); os.chmod(where, 0o666)
    def get_request(self):
        conn, _ = self.socket.accept(); return conn, ("unix", 0)
if where.startswith("/"):
    if os.path.exists(where): os.unlink(where)
    os.makedirs(os.path.dirname(where), exist_ok=True)
    UnixServer(where, Answer).serve_forever()
else:
    server = Server(("127.0.0.1", int(where)), Answer)
    if protocol == "https":  # nginx does not verify an upstream's certificate unless told to: a self-signed one does
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain("/etc/harness-upstreams/stub.pem", "/etc/harness-upstreams/stub.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
'''

# The init script of one upstream: its command comes from /etc/harness-upstreams/PORT (a stub, or the team's).
INIT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          harness-upstream
# Short-Description: an upstream the site proxies to, started by harness
### END INIT INFO
id=${0##*/harness-upstream-}
pidfile=/run/harness-upstream-$id.pid
. "/etc/harness-upstreams/$id"  # COMMAND (what runs) and READY (how to tell it listens)
status() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case "${1:-}" in
  start) status && exit 0
         # A watcher runs the command and keeps its exit code, so a command that dies says how.
         rm -f "/run/harness-upstream-$id.exit"
         start-stop-daemon --start --quiet --background --make-pidfile --pidfile "/run/harness-upstream-$id.watch" \\
           --startas /bin/sh -- -c '. "/etc/harness-upstreams/$1"
             eval "exec $COMMAND" >>"/var/log/harness-upstream-$1.log" 2>&1 &
             echo $! > "/run/harness-upstream-$1.pid"; wait $!; echo $? > "/run/harness-upstream-$1.exit"' sh "$id"
         for _ in $(seq 1 100); do
           eval "$READY" && exit 0
           exited=/run/harness-upstream-$id.exit
           [ -s "$exited" ] && { echo "it exited with code $(cat "$exited")"; exit 1; }
           sleep 0.1
         done
         echo "it did not listen within 10 s"; exit 1 ;;
  stop) start-stop-daemon --stop --quiet --retry TERM/5/KILL/2 --pidfile "$pidfile" --remove-pidfile; exit 0 ;;
  restart) "$0" stop; "$0" start ;;
  status) status && { echo running; exit 0; }; echo "not running"; exit 3 ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
"""

# What the target lacks, made where missing and said on stdout ("made: WHAT (WHY)"); every group has a fixed count:
# -U USER GROUP WHY, -d DIR WHY, -c CERT KEY NAME WHY, -k PATH CERT WHY (a copy of a certificate: its own chain),
# -f PATH STANDIN WHY (a file from harness's stand-ins), -t PATH WHY (a session ticket key), -p FILE TITLE WHY (a page),
# -h NAME (resolves to 127.0.0.1), -u KEY (start that upstream's service).
PREPARE = r"""
set -u
made() { [ -n "$2" ] && echo "made: $1 ($2)"; return 0; }
while [ $# -gt 0 ]; do
  flag=$1; shift
  case $flag in
    -U) getent group "$2" >/dev/null || { groupadd --system "$2" && made "group $2" "$3"; }
        id -u "$1" >/dev/null 2>&1 || { useradd --system --no-create-home --shell /usr/sbin/nologin -g "$2" "$1" \
          && made "user $1" "$3"; }
        shift 3 ;;
    -d) [ -d "$1" ] || { mkdir -p "$1" && made "folder $1" "$2"; }; shift 2 ;;
    -c) if [ ! -s "$1" ] || [ ! -s "$2" ]; then
          mkdir -p "$(dirname "$1")" "$(dirname "$2")"
          openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$3" -keyout "$2" -out "$1" 2>/dev/null \
            || { echo "could not make a certificate for $3 (is openssl installed?)"; exit 3; }
          made "a self-signed certificate $1 and its key $2 for $3" "$4"
        fi; shift 4 ;;
    -k) [ -s "$1" ] || { mkdir -p "$(dirname "$1")"; cp "$2" "$1" && made "$1, a copy of the self-signed $2" "$3"; }
        shift 3 ;;
    -f) [ -e "$1" ] || { mkdir -p "$(dirname "$1")"; cp "/usr/local/lib/harness/standins/$2" "$1" \
          && made "$1 (harness's $2)" "$3"; }; shift 3 ;;
    -t) [ -s "$1" ] || { mkdir -p "$(dirname "$1")"; head -c 80 /dev/urandom > "$1" && chmod 600 "$1" \
          && made "$1, a random session ticket key" "$2"; }; shift 2 ;;
    -p) if [ ! -e "$1" ]; then
          mkdir -p "$(dirname "$1")"
          printf '<!doctype html><title>%s</title><h1>%s</h1><p>@PAGE_MARKER@ %s</p>\n' "$2" "$2" "$1" > "$1"
          chmod a+r "$1"; made "page $1" "$3"
        fi; shift 3 ;;
    -h) grep -q "[[:space:]]$1\$" /etc/hosts || printf '127.0.0.1\t%s\n' "$1" >> /etc/hosts; shift ;;
    -u) if ! said=$(service "harness-upstream-$1" start 2>&1); then
          log=$(tail -n 5 "/var/log/harness-upstream-$1.log" 2>/dev/null | tr '\n' '|' | sed 's/|$//; s/|/ | /g')
          echo "upstream $1 did not start: ${said:-no word from its init script}; its last output: ${log:-none}"
          exit 4
        fi; shift ;;
    *) echo "harness: unknown preparation $flag"; exit 2 ;;
  esac
done
""".replace("@PAGE_MARKER@", PAGE_MARKER)


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _folder_tar(source: str, into: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(source, arcname=into.lstrip("/"))
    return buffer.getvalue()


def start_up(target: Target) -> None:
    """The start-up step of a --site target (Target runs it once the container runs): lay the tree in, then record
    what each probe's healthy answer is."""
    site = target.site
    if site is None:
        return
    target.wait_until_serving(target.ready_timeout)  # the test server first: the image works
    target.site_notes = lay(target, site)
    target.checks = record(target, site)


def lay(target: Target, site: Site) -> list[str]:
    """Put SITE into TARGET and start nginx with it; bad trees are InvalidInput naming nginx's own words.

    Returns the preflight's notes: what was copied, stood in for or made, each with the directive that asked."""
    notes: list[str] = []
    # The test server's site and app make way; /etc/harness-site tells the entrypoint so after a restart.
    # nginx stops under the test server's configuration: stopped under the tree's, a pid file elsewhere would leave
    # the test server's nginx serving in its place.
    clear = (
        "service nginx stop >/dev/null 2>&1; service app stop >/dev/null 2>&1; touch /etc/harness-site; "
        "rm -rf /etc/nginx/sites-enabled /etc/nginx/sites-available /etc/nginx/conf.d /var/www/html/*; "
        "mkdir -p /etc/nginx/sites-enabled /etc/nginx/conf.d"
    )
    target.exec(["sh", "-c", clear], check=True)
    _upload(target, "/", site.tree)
    given = dict(site.settings.content)
    for place, source in given.items():
        target.exec(["mkdir", "-p", place], check=True)
        _upload(target, "/", _folder_tar(str(source), place))
        notes.append(f"content of {place} copied from {source}")
    args: list[str] = []
    for need in needs(site.model, tuple(given)):
        args += [_FLAGS[need.kind], *need.args()]
    files: dict[str, tuple[bytes, int]] = {"/usr/local/lib/harness/stub.py": (STUB.encode(), 0o644)}
    for standin in STANDINS.iterdir():
        files[f"/usr/local/lib/harness/standins/{standin.name}"] = (standin.read_bytes(), 0o644)
    upstreams = site.upstreams()
    if any(u.protocol == "https" for u in upstreams):
        args += ["-c", "/etc/harness-upstreams/stub.pem", "/etc/harness-upstreams/stub.key", "harness-stub", ""]
    for upstream in upstreams:
        files[f"/etc/init.d/{upstream.service}"] = (INIT.encode(), 0o755)
        files[f"/etc/harness-upstreams/{upstream.key}"] = (_command(upstream, site.model.user).encode(), 0o644)
        if upstream.host and upstream.host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
            args += ["-h", upstream.host]
            notes.append(f"{upstream.host} resolves to 127.0.0.1 in /etc/hosts (the target has no network)")
        args += ["-u", upstream.key]
        what = "the command from the settings" if upstream.command else "a stub that says which upstream it is"
        group = f", one of upstream {upstream.group}, all answering alike" if upstream.group else ""
        notes.append(f"upstream {upstream.address} ({upstream.protocol}, {upstream.where}{group}): {what}")
    _upload(target, "/", _tar(files))
    prepared = target.exec(["sh", "-c", PREPARE, "sh", *args], timeout=120)
    made = [line.removeprefix("made: ") for line in prepared.stdout.splitlines() if line.startswith("made: ")]
    if not prepared.ok:
        trouble = [line for line in prepared.output.splitlines() if not line.startswith("made: ")]
        said = " ".join(trouble).strip()
        raise InvalidInput(f"--site {site.folder}: preparing the server failed: {_printable(said)[-400:]}")
    _start(target, site)
    return [*notes, *made]


_FLAGS = {
    "user": "-U",
    "folder": "-d",
    "certificate": "-c",
    "copy-of-certificate": "-k",
    "file": "-f",
    "ticket-key": "-t",
    "page": "-p",
}


def _printable(text: str) -> str:
    """TEXT without control bytes: a message never prints what a binary file held."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "?", text)


def _absolute(path: str) -> str:
    return path if path.startswith("/") else f"/etc/nginx/{path}"


def _command(upstream: Upstream, user: str) -> str:
    where = upstream.socket or str(upstream.port)
    stub = f"python3 /usr/local/lib/harness/stub.py {upstream.protocol} {where} {_quote(upstream.name)} {_quote(user)}"
    ready = f"test -S {where}" if upstream.socket else f"ss -ltnH 'sport = :{upstream.port}' | grep -q ."
    return f"COMMAND={_quote(upstream.command or stub)}\nREADY={_quote(ready)}\n"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _upload(target: Target, path: str, data: bytes) -> None:
    def refused(exc: BaseException, doing: str) -> Exception:  # e.g. a file where the image has a folder
        return InvalidInput(f"could not upload the site into {target.name}: {exc}")

    accepted = target.upload(
        path, data, doing=f"uploading the site into {target.name}", instead={Trouble.REFUSED: refused}
    )
    if not accepted:
        raise InvalidInput(f"the engine refused the site's files in {target.name}")


def _start(target: Target, site: Site) -> None:
    tested = target.exec(["nginx", "-t"])
    if not tested.ok:
        raise InvalidInput(f"--site {site.folder} does not pass nginx -t: {_printable(_local(tested.output, site))}")
    target.exec(["sh", "-c", "service nginx stop >/dev/null 2>&1; service nginx start"], timeout=30)
    listening = target.exec(["ss", "-ltnpH"]).stdout
    nginx_ports = set()
    for line in listening.splitlines():
        fields = line.split()
        if len(fields) > 3 and '"nginx"' in line and fields[3].rpartition(":")[2].isdigit():
            nginx_ports.add(int(fields[3].rpartition(":")[2]))
    if not {80, 443} & nginx_ports:
        configured = sorted(site.model.ports() - {-1})
        raise InvalidInput(
            f"--site {site.folder} passes nginx -t but serves neither port 80 nor 443 "
            f"(it listens on {', '.join(map(str, configured)) or 'nothing'}); harness probes 80 and 443"
        )


def _local(said: str, site: Site) -> str:
    """nginx's first complaint, with /etc/nginx/FILE:LINE also named as the file in the tree."""
    first = next((line for line in said.splitlines() if "[emerg]" in line), said.splitlines()[0] if said else "")
    first = re.sub(r"^(nginx: )?(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?\[emerg\] (\d+#\d+: )?", "", first.strip())

    def here(match: re.Match[str]) -> str:
        relative, line = match.group(1), match.group(2) or ""
        return f"/etc/nginx/{relative}{line} ({site.folder / relative}{line})"

    return re.sub(r"/etc/nginx/([^\s:\"]+)(:\d+)?", here, first)


# -- the healthy answers -----------------------------------------------------------------------------


def record(target: Target, site: Site) -> tuple[Check, ...]:
    """Each probe's check: what the configuration implies, completed by how the healthy server answers it."""
    checks = []
    for spec in probes_for(site):
        check = _check(spec)
        expects = spec.status is not None or spec.closed or spec.body or spec.body_regex or spec.headers
        if not expects:
            check = _recorded(target, check, spec)
            if 400 <= check.status < 500:
                # A default server with a $host root answers 404 to a name it has no folder for: maybe by design,
                # maybe a broken site. Accepted, but said, until the settings confirm it.
                target.site_notes.append(
                    f"probe {spec.label()} answers {check.status} before any fault ({spec.why}); taken as its healthy "
                    f'answer: confirm with [[probe]] path = "{spec.path}", host = "{spec.host}", '
                    f"status = {check.status} in {SETTINGS}, or fix the site"
                )
        else:
            check = _verify(target, check, spec)
        checks.append(check)
    if not checks:
        raise InvalidInput(f"--site {site.folder}: no server listens on port 80 or 443, so there is nothing to probe")
    return tuple(checks)


def _check(spec: ProbeSpec) -> Check:
    return Check(
        spec.path.lstrip("/"),
        spec.body or "",
        own_page=False,
        host=spec.host,
        scheme=spec.scheme,
        status=spec.status or 200,
        location=dict(spec.headers).get("Location", ""),
        closed=spec.closed,
        regex=spec.body_regex or "",
        headers=tuple((k, v) for k, v in spec.headers if k.lower() != "location"),
        why=spec.why,
    )


def _fetch(target: Target, check: Check) -> tuple[int | None, str, dict[str, str], str]:
    probe = target.probe(2.0, checks=(check,))
    try:
        response = probe.fetch(check)
        return response.status_code, response.text, dict(response.headers), ""
    except (requests.RequestException, OSError) as exc:
        return None, "", {}, str(exc)
    finally:
        probe.close()


def _recorded(target: Target, check: Check, spec: ProbeSpec) -> Check:
    status, body, headers, trouble = _fetch(target, check)
    if status is None:
        raise InvalidInput(f"probe {spec.label()} fails before any fault: {trouble[:200]} ({spec.why})")
    if status >= 500:
        raise InvalidInput(f"probe {spec.label()} answers {status} before any fault ({spec.why}); fix the site first")
    lowered = {k.lower(): v for k, v in headers.items()}
    snippet = next((line.strip()[:80] for line in body.splitlines() if line.strip()), "")
    location = lowered.get("location", "") if 300 <= status < 400 else ""
    return Check(check.path, snippet if 200 <= status < 300 else "", own_page=False, host=check.host,
                 scheme=check.scheme, status=status, location=location, server=product(lowered.get("server", "")),
                 why=f"{spec.why}; the healthy server's answer")  # fmt: skip


def _verify(target: Target, check: Check, spec: ProbeSpec) -> Check:
    if not check.closed:
        # Which program answers is what the healthy server says it is (a site may pass or hide the Server header).
        status, _, headers, _ = _fetch(target, check)
        if status is not None:
            check = dataclasses.replace(
                check, server=product({k.lower(): v for k, v in headers.items()}.get("server", ""))
            )
    probe = target.probe(2.0, checks=(check,))
    try:
        sample = probe.sample()
    finally:
        probe.close()
    if sample.outcome is not Outcome.OK:
        raise InvalidInput(f"probe {spec.label()} does not hold before any fault: {sample.detail} ({spec.why})")
    return check
