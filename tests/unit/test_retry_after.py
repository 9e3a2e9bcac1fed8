"""An API server that answers 429 with Retry-After (a control plane that just started,
priority and fairness shedding load) is asked again, as client-go does, within
--request-timeout; one that keeps asking past the deadline is a one-line exit 3.

No real kube-apiserver can be made to answer 429 on cue, so this is a small HTTP server
that does only that and then answers empty lists."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

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


@pytest.fixture
def shedding(tmp_path) -> Iterator[tuple[str, type[_Shedding]]]:
    handler = type("Handler", (_Shedding,), {"seen": [], "refusals": 1})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{server.server_port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]\n")
    try:
        yield str(config), handler
    finally:
        server.shutdown()
        server.server_close()


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
