"""Requests through the client sidecar, as the app in the client pod would send them."""

from __future__ import annotations

import http.client
import socket
import ssl
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass
class Outcome:
    status: int | None
    body: str
    error: str = ""

    def __str__(self) -> str:
        if self.error:
            return self.error
        return f"{self.status} {self.body.strip()[:100]}".strip()


def http_call(address: tuple[str, int], host: str, path: str = "/get",
              timeout: float = 10.0) -> Outcome:
    conn = http.client.HTTPConnection(address[0], address[1], timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, "x-request-id": str(uuid.uuid4()),
                                           "User-Agent": "meshdebug-lab/1"})
        resp = conn.getresponse()
        return Outcome(resp.status, resp.read().decode("utf-8", "replace"))
    except OSError as exc:
        return Outcome(None, "", f"{exc.__class__.__name__}: {exc}")
    finally:
        conn.close()


def burst(address: tuple[str, int], host: str, count: int) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: http_call(address, host), range(count)))


def tls_call(address: tuple[str, int], server_name: str, timeout: float = 5.0) -> Outcome:
    """An HTTPS request, as curl https://HOST would send it through the sidecar."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(address, timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=server_name) as tls:
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {server_name}\r\n\r\n".encode())
                data = tls.recv(200)
                return Outcome(None, data.decode("latin-1"))
    except ssl.SSLError as exc:
        return Outcome(None, "", f"SSL error: {exc.reason or exc}")
    except OSError as exc:
        return Outcome(None, "", f"{exc.__class__.__name__}: {exc}")
