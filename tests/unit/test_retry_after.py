"""An API server that answers 429 with Retry-After (a control plane that just started,
priority and fairness shedding load) is asked again, as client-go does, within
--request-timeout; one that keeps asking past the deadline is a one-line exit 3.

No real kube-apiserver can be made to answer 429 on cue, so this is a small HTTP server
that does only that and then answers empty lists."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run


class _Shedding(http.server.BaseHTTPRequestHandler):
    refusals = 1
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append(self.path)
        if len(type(self).seen) <= type(self).refusals:
            body = b'{"kind":"Status","status":"Failure","code":429,"reason":"TooManyRequests"}'
            self.send_response(429)
            self.send_header("Retry-After", "1")
        else:
            body = json.dumps({"kind": "List", "apiVersion": "v1", "items": []}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@contextlib.contextmanager
def api_server(handler: type[http.server.BaseHTTPRequestHandler], tmp_path: Path
               ) -> Iterator[str]:
    """The handler on a loopback port, and a kubeconfig (plain http) pointing at it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{server.server_port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]\n")
    try:
        yield str(config)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def shedding(tmp_path) -> Iterator[tuple[str, type[_Shedding]]]:
    handler = type("Handler", (_Shedding,), {"seen": [], "refusals": 1})
    with api_server(handler, tmp_path) as config:
        yield config, handler


def test_a_429_with_retry_after_is_asked_again(shedding):
    config, handler = shedding
    result = run("--kubeconfig", config, "--request-timeout", "10s", "audit", "-A")
    assert result.code == 0, result.err
    assert handler.seen.count(handler.seen[0]) == 2  # the refused read was made again


def test_a_429_whose_wait_passes_the_deadline_is_one_line_exit_3(shedding):
    config, handler = shedding
    handler.refusals = 1000
    result = run("--kubeconfig", config, "--request-timeout", "3s", "audit", "-A")
    assert result.code == 3, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    worst = max(handler.seen.count(path) for path in handler.seen)
    assert 2 <= worst <= 4  # asked again, and gave up at the deadline, not after ten


class _Dripping(http.server.BaseHTTPRequestHandler):
    """Headers at once, then the body a byte every 0.2 s: every socket read succeeds."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"kind": "List", "apiVersion": "v1", "items": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) + 100_000))
        self.end_headers()
        try:
            for byte in body + b" " * 100_000:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass  # the client gave up: what the test wants

    def log_message(self, *_args: object) -> None:
        pass


def test_an_api_server_that_drips_its_body_ends_at_the_deadline(tmp_path):
    import subprocess
    import sys

    with api_server(_Dripping, tmp_path) as config:
        # the subprocess timeout is a hang guard far above the 2 s under test
        proc = subprocess.run([sys.executable, "-m", "kubectl_meshdebug", "--kubeconfig",
                               config, "--request-timeout", "2s", "audit", "-A"],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "in time" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
