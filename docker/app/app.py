"""The target's application: a tiny JSON service that nginx proxies at /app/.

Each release directory holds a copy of this file plus a `release.env`; v2
expects a DATABASE_URL that the deploy never set, so it dies at startup,
the way a bad release does.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RELEASE = os.environ.get("APP_RELEASE", "unknown")
if os.environ.get("APP_REQUIRES_DATABASE_URL") == "1":
    # Raises KeyError at startup, before the port is bound: a crash-on-boot release.
    DATABASE_URL = os.environ["DATABASE_URL"]


class Handler(BaseHTTPRequestHandler):
    server_version = "harness-app"

    def do_GET(self) -> None:
        body = json.dumps({"service": "harness-app", "release": RELEASE, "status": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")


if __name__ == "__main__":
    print(f"harness-app {RELEASE} listening on 127.0.0.1:9000", file=sys.stderr, flush=True)
    ThreadingHTTPServer(("127.0.0.1", 9000), Handler).serve_forever()
