"""A frontend dev server on the host: shows what the API answers. Listens on 127.0.0.1:$PORT."""

import http.server
import os
import urllib.request

PORT = int(os.environ.get("PORT", "8100"))
API_URL = os.environ.get("API_URL", "http://127.0.0.1:8000/")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            body = b"ok\n"
        else:
            with urllib.request.urlopen(API_URL, timeout=5) as answer:
                body = b"frontend shows: " + answer.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


print(f"frontend: listening on 127.0.0.1:{PORT}, showing {API_URL}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
