"""An admin port that misbehaves on purpose, for what no real Envoy can be made to do.

A real Envoy is frozen with SIGSTOP and killed in tests/e2e/test_faults.py; but no Envoy
drips a header a byte at a time, answers garbage, redirects, or claims to change a log
level and does not. This server does, one way per `mode`, on a loopback port:

  silent          reads the request and never answers
  drip-headers    a status line, then one header byte every 0.2 s, forever
  drip-body       complete headers, then one body byte every 0.2 s, forever
  garbage         bytes that are not HTTP
  5xx             500 with an error body
  truncated-json  200 with a JSON body cut off mid-way (Content-Length agrees)
  cut-short       200 promising more bytes than it sends, then closes
  wrong-json      200 `[1, 2, 3]` to everything
  huge-chunked    200 chunked, 1 MiB chunks without end
  escapes         500 whose body moves the cursor, retitles the window and clears it
  redirect        302 to elsewhere
  empty           200 with an empty body
  ignores-levels  a real-looking /logging that says yes to level changes and keeps its
                  levels; everything else as an Envoy with no clusters
  scripted        the answers it is given (path prefix -> JSON or text body): a proxy
                  whose owner chose its names, to feed hostile names to every command
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from typing import Any

MODES = ("silent", "drip-headers", "drip-body", "garbage", "5xx", "truncated-json",
         "cut-short", "wrong-json", "huge-chunked", "escapes", "redirect", "empty",
         "ignores-levels", "scripted")
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m\r\x1b[1A"
LOGGERS = {"admin": "info", "router": "info", "http": "info", "connection": "info",
           "upstream": "info", "misc": "error"}


def _response(status: str, body: bytes, content_type: str = "text/plain") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class FaultyProxy:
    """`with FaultyProxy(mode) as proxy:` ... `proxy.url`; every connection ends on exit."""

    def __init__(self, mode: str, host: str = "127.0.0.1",
                 answers: dict[str, bytes] | None = None) -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.answers = answers or {}
        self.stopping = threading.Event()
        self.requests: list[str] = []
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    # -------------------------------------------------------------------------------
    def _read_request(self, conn: socket.socket) -> tuple[str, str]:
        data = b""
        conn.settimeout(5)
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = line.partition(" ")
        path = rest.split(" ")[0]
        self.requests.append(f"{method} {path}")
        return method, path

    def _drip(self, conn: socket.socket, head: bytes, byte: bytes) -> None:
        conn.sendall(head)
        while not self.stopping.wait(0.2):
            conn.sendall(byte)

    def _serve(self, conn: socket.socket) -> None:
        try:
            method, path = self._read_request(conn)
            self._answer(conn, method, path)
        except OSError:
            pass  # the client gave up: that is what most modes are for

    def _answer(self, conn: socket.socket, method: str, path: str) -> None:
        mode = self.mode
        if mode == "silent":
            self.stopping.wait(120)
        elif mode == "drip-headers":
            self._drip(conn, b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a")
        elif mode == "drip-body":
            self._drip(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 1000000\r\n\r\n{", b" ")
        elif mode == "garbage":
            conn.sendall(b"\x00\xff\xfeSSH-2.0-OpenSSH_9.6\r\n\x00\x00garbage\r\n\r\n")
        elif mode == "5xx":
            conn.sendall(_response("500 Internal Server Error", b"upstream exploded"))
        elif mode == "truncated-json":
            conn.sendall(_response("200 OK", b'{"configs": [{"@type": "type.googleapis.c',
                                   "application/json"))
        elif mode == "cut-short":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 50000\r\n\r\n{\"configs\": [")
        elif mode == "wrong-json":
            conn.sendall(_response("200 OK", b"[1, 2, 3]", "application/json"))
        elif mode == "huge-chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"a" * (1 << 20)
            while not self.stopping.is_set():
                conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        elif mode == "escapes":
            conn.sendall(_response("500 Internal Server Error", ESCAPES.encode()))
        elif mode == "redirect":
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        elif mode == "empty":
            conn.sendall(_response("200 OK", b""))
        elif mode == "ignores-levels":
            conn.sendall(self._unchanging_envoy(method, path))
        elif mode == "scripted":
            conn.sendall(self._scripted(method, path))
        time.sleep(0.05)

    def _scripted(self, method: str, path: str) -> bytes:
        """The answer for the longest prefix of `path` given; else the unchanging Envoy."""
        for prefix in sorted(self.answers, key=len, reverse=True):
            if path.startswith(prefix):
                body = self.answers[prefix]
                kind = "application/json" if body[:1] in (b"{", b"[") else "text/plain"
                return _response("200 OK", body, kind)
        return self._unchanging_envoy(method, path)

    def _unchanging_envoy(self, method: str, path: str) -> bytes:
        if path.startswith("/logging"):
            text = "active loggers:\n" + "".join(f"  {k}: {v}\n" for k, v in LOGGERS.items())
            return _response("200 OK", text.encode() if "?" not in path else b"")
        if path.startswith("/ready"):
            return _response("200 OK", b"LIVE\n")
        if path.startswith("/server_info"):
            return _response("200 OK", b'{"state": "LIVE", "command_line_options": {}}',
                             "application/json")
        if path.startswith("/config_dump"):
            return _response("200 OK", b'{"configs": []}', "application/json")
        if path.startswith("/clusters"):
            return _response("200 OK", b'{"cluster_statuses": []}', "application/json")
        return _response("200 OK", b"")
