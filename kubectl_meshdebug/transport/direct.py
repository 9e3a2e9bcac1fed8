"""Plain HTTP to an admin URL the user gave (`--admin-url`): a port-forward, a local Envoy."""

from __future__ import annotations

import http.client
import socket
import time
from urllib.parse import urlsplit

from kubectl_meshdebug.errors import UnreachableError, UsageError
from kubectl_meshdebug.transport.base import (
    DEFAULT_MAX_BYTES,
    AdminResponse,
    checked_request_line,
    too_big,
)


def parse_admin_url(url: str) -> tuple[str, int, str]:
    """(host, port, path prefix) of `http://HOST:PORT[/prefix]` (scheme optional)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        raise UsageError(f"--admin-url {url!r} is not an http://HOST:PORT URL")
    host = parts.hostname
    if any(c.isspace() or ord(c) < 32 for c in host) or parts.query or parts.fragment:
        raise UsageError(f"--admin-url {url!r} is not an http://HOST:PORT URL")
    try:
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--admin-url {url!r} has a bad port") from exc
    if port is None:
        port = 80
    if not 1 <= port <= 65535:
        raise UsageError(f"--admin-url {url!r}: port must be 1-65535")
    return host, port, parts.path.rstrip("/")


class DirectTransport:
    """Talks HTTP/1.1 straight to `http://HOST:PORT`; one connection per request."""

    def __init__(self, url: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.host, self.port, self.prefix = parse_admin_url(url)
        self.max_bytes = max_bytes
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.describe = f"http://{shown}:{self.port}{self.prefix}"

    def request(self, method: str, path: str, timeout: float) -> AdminResponse:
        method, path = checked_request_line(method, path)
        deadline = time.monotonic() + timeout
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, self.prefix + path, headers={"Accept": "*/*"})
            resp = conn.getresponse()
            chunks: list[bytes] = []
            size = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                if conn.sock is not None:
                    conn.sock.settimeout(min(left, timeout))
                chunk = resp.read1(1 << 16)
                if not chunk:
                    if resp.length:  # the peer closed before Content-Length was reached
                        raise http.client.IncompleteRead(b"".join(chunks), resp.length)
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise too_big(self.describe, path, self.max_bytes)
                chunks.append(chunk)
            return AdminResponse(resp.status, b"".join(chunks))
        except ConnectionRefusedError as exc:
            raise UnreachableError(
                f"admin port refused at {self.describe}",
                hint="is Envoy running and the admin port right? (check --admin-url)",
            ) from exc
        except (socket.timeout, TimeoutError) as exc:
            raise UnreachableError(
                f"admin API at {self.describe} did not answer {method} {path.split('?')[0]} "
                f"within {timeout:g}s",
                hint="raise --request-timeout",
            ) from exc
        except socket.gaierror as exc:
            raise UnreachableError(f"admin API host {self.host!r} does not resolve") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise UnreachableError(
                f"admin API at {self.describe} failed: {exc.__class__.__name__}: {exc}"
            ) from exc
        finally:
            conn.close()
