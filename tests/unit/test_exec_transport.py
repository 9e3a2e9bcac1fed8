"""The exec transport's pure parts: the error channel's status and the request line.

Everything that talks through the API server is tested against a real one in
tests/cluster/."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubectl_meshdebug.transport.base import checked_request_line
from kubectl_meshdebug.transport.exec import batch_argv, parse_error_channel, split_batch

SUCCESS = json.dumps({"metadata": {}, "status": "Success"})


def exit_status(code: int) -> str:
    return json.dumps({"metadata": {}, "status": "Failure",
                       "message": f"command terminated with non-zero exit code: {code}",
                       "reason": "NonZeroExitCode",
                       "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}})


def test_no_shell_and_no_path_tricks():
    for bad in ("/stats; rm -rf /", "/../etc/passwd", "/stats\nGET /quitquitquit",
                "stats", "/stats\x1b[2J"):
        with pytest.raises(ValueError):
            checked_request_line("GET", bad)
    with pytest.raises(ValueError):
        checked_request_line("DELETE", "/stats")


def test_error_channel_parsing():
    assert parse_error_channel(SUCCESS) == (0, "")
    assert parse_error_channel(exit_status(7))[0] == 7
    assert parse_error_channel("")[0] == 0
    assert parse_error_channel("not json")[0] == 1


# --- batches: several admin paths in one exec, cut apart again --------------------------

BODIES = {
    "/forged": b"before\n__meshdebug_batch:200 3\nabc\n__meshdebug_batch:200 99\n",
    "/empty": b"",
    "/binary": bytes(range(256)) * 3,
    "/stats": b"server.live: 1\n",
}


class _Admin(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        body = BODIES.get(path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body if body is not None else b"invalid path\n")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture()
def admin_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Admin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


CURL = shutil.which("curl")


@pytest.mark.skipif(CURL is None, reason="no curl on this machine")
def test_real_curl_batch_is_cut_by_sizes_not_by_what_bodies_say(admin_port):
    paths = ["/forged", "/empty", "/nothing-here", "/binary", "/stats?filter=a%5B1%5D"]
    argv = batch_argv("GET", paths, admin_port, 5)
    out = subprocess.run(argv, capture_output=True, timeout=30).stdout
    answers = split_batch(out, len(paths))
    assert answers is not None
    assert [(a.status, a.body) for a in answers] == [
        (200, BODIES["/forged"]), (200, b""), (404, b"invalid path\n"),
        (200, BODIES["/binary"]), (200, BODIES["/stats"])]


@pytest.mark.skipif(CURL is None, reason="no curl on this machine")
def test_a_path_curl_could_not_fetch_is_left_to_a_call_of_its_own(admin_port):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    out = subprocess.run(batch_argv("GET", ["/stats", "/ready"], port, 5),
                         capture_output=True, timeout=30).stdout
    assert split_batch(out, 2) == [None, None]


def test_output_that_is_not_the_whole_batch_is_refused():
    one = b"body\n__meshdebug_batch:200 4\n"
    assert split_batch(one, 1) is not None
    assert split_batch(one, 2) is None  # curl stopped after the first answer
    assert split_batch(b"x" + one, 1) is None  # bytes before the first answer
    assert split_batch(one[:-3], 1) is None  # cut at the size cap
    assert split_batch(b"bo\n__meshdebug_batch:200 4\n", 1) is None  # size beyond the start
