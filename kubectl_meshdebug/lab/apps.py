"""Upstream apps on loopback: the workloads behind the sidecars.

Behaviours a scenario needs: answer 200 with the request headers (like httpbin), answer
500 (a failing replica for outlier detection), answer slowly (to fill a circuit breaker),
answer after 3 s (past a route's timeout), send an invalid header name (`Time : x`) that
Envoy's HTTP/1 parser rejects, and close the connection instead of answering (an app whose
keep-alive ends while the sidecar still uses the connection).
"""

from __future__ import annotations

import json
import socketserver
import threading
import time

BEHAVIOURS = ("ok", "fail", "slow", "very-slow", "bad-header", "reset")


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: AppServer = self.server  # type: ignore[assignment]
        while True:
            try:
                request_line = self.rfile.readline(65536)
            except OSError:
                return
            if not request_line:
                return
            headers = {}
            while True:
                line = self.rfile.readline(65536)
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length:
                self.rfile.read(length)
            server.requests += 1
            if server.behaviour == "reset":
                return  # closes the connection with the request unanswered
            try:
                self.wfile.write(server.respond(request_line.decode("latin-1"), headers))
                self.wfile.flush()
            except OSError:  # the caller gave up first (an HTTP/2 preface it answered)
                return
            if headers.get("connection", "").lower() == "close":
                return


class AppServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], behaviour: str = "ok", name: str = "app") -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour}")
        self.behaviour = behaviour
        self.name = name
        self.requests = 0
        super().__init__(address, _Handler)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def respond(self, request_line: str, headers: dict[str, str]) -> bytes:
        if self.behaviour == "fail":
            return _response(500, b"upstream app failure\n")
        if self.behaviour == "slow":
            time.sleep(0.5)
        if self.behaviour == "very-slow":
            time.sleep(3.0)
        if self.behaviour == "bad-header":
            body = b"ok\n"
            return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTime : x\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        body = json.dumps({"app": self.name, "request": request_line.strip(),
                           "headers": headers}).encode()
        return _response(200, body, "application/json")

    def start(self) -> AppServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class OutsideHttps(AppServer):
    """A host outside the mesh serving HTTPS, as `openssl s_server -www` does on the real
    mesh of tests/cluster: every request gets `HTTP/1.0 200 ok`. Where calls that leave
    the mesh through PassthroughCluster arrive in the lab."""

    def __init__(self, address: tuple[str, int], cert: str, key: str) -> None:
        import ssl

        super().__init__(address, "ok", "outside")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)

    def get_request(self) -> tuple[object, object]:
        conn, address = super().get_request()
        # the handshake happens in the handler's thread, on its first read
        return self.context.wrap_socket(conn, server_side=True,
                                        do_handshake_on_connect=False), address

    def respond(self, request_line: str, headers: dict[str, str]) -> bytes:
        return (b"HTTP/1.0 200 ok\r\nContent-type: text/html\r\n\r\n"
                b"<HTML><BODY>outside the mesh</BODY></HTML>\r\n")

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # plaintext or a bad handshake: the connection just closes, as a server's does


def _response(status: int, body: bytes, ctype: str = "text/plain") -> bytes:
    reason = {200: "OK", 500: "Internal Server Error"}.get(status, "Status")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def main(argv: list[str] | None = None) -> None:
    """Serve one app in the foreground: how a pod of the test cluster's real mesh runs it
    (`python -m kubectl_meshdebug.lab.apps BEHAVIOUR PORT NAME`, inside the pod's network
    namespace)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kubectl_meshdebug.lab.apps")
    parser.add_argument("behaviour", choices=BEHAVIOURS)
    parser.add_argument("port", type=int)
    parser.add_argument("name")
    parser.add_argument("--bind", default="0.0.0.0")
    args = parser.parse_args(argv)
    server = AppServer((args.bind, args.port), args.behaviour, args.name)
    print(f"{args.name}: {args.behaviour} app on {args.bind}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
