"""A tiny web app: serves a greeting built from greeting.txt, read on every request. Listens on $PORT."""

import http.server
import os
import signal
import sys
from pathlib import Path

HERE = Path(__file__).parent
PORT = int(os.environ.get("PORT", "8000"))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            body = b"ok\n"
        else:
            greeting = (HERE / "greeting.txt").read_text().strip()
            who = os.environ.get("GREETING_TARGET", "world")
            body = f"{greeting}, {who}!\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    # As PID 1 in a container, a process without a SIGTERM handler ignores SIGTERM, and every stop or
    # restart would wait the whole grace period: exit promptly instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"hello: listening on :{PORT}", flush=True)
    http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
