"""An HTTP proxy in front of one Envoy admin that adds latency per call, so that one Envoy
can stand in for many proxies: `--admin-url ns/podN=http://HOST:PORT/podN`."""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LatencyProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.calls = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _forward(self) -> None:
        server: LatencyProxy = self.server  # type: ignore[assignment]
        server.calls += 1
        time.sleep(server.delay)
        path = "/" + self.path.lstrip("/").split("/", 1)[1] if self.path.count("/") > 1 else "/"
        conn = http.client.HTTPConnection(*server.upstream, timeout=30)
        conn.request(self.command, path)
        resp = conn.getresponse()
        body = resp.read()
        self.send_response(resp.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        conn.close()

    do_GET = _forward
    do_POST = _forward
