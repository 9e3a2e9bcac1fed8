"""Plain HTTP to an admin URL the user gave (`--admin-url`): a port-forward, a local Envoy."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from kubectl_meshdebug.errors import UnreachableError, UsageError
from kubectl_meshdebug.transport.base import (
    DEFAULT_MAX_BYTES,
    AdminResponse,
    checked_request_line,
    exchange,
    parse_http_response,
)


def parse_admin_url(url: str) -> tuple[str, int, str]:
    """(host, port, path prefix) of `http://HOST:PORT[/prefix]` (scheme optional)."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        hostname = parts.hostname
    except ValueError as exc:  # an unclosed IPv6 bracket, a bad netloc
        raise UsageError(f"--admin-url {url!r} is not an http://HOST:PORT URL") from exc
    if parts.scheme != "http" or not hostname:
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
    """Talks HTTP/1.1 straight to `http://HOST:PORT`; one connection per request, read to
    its end under one deadline."""

    def __init__(self, url: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.host, self.port, self.prefix = parse_admin_url(url)
        self.max_bytes = max_bytes
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.describe = f"http://{shown}:{self.port}{self.prefix}"

    def request(self, method: str, path: str, timeout: float) -> AdminResponse:
        method, path = checked_request_line(method, path)
        deadline = time.monotonic() + timeout
        sock: socket.socket | None = None
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
            raw = exchange(sock, method, self.prefix + path, deadline, self.max_bytes,
                           self.describe)
            if not raw:
                raise UnreachableError(f"admin API at {self.describe} closed the connection "
                                       f"without answering {method} {path.split('?')[0]}")
            return parse_http_response(raw, self.describe, path, self.max_bytes)
        except ConnectionRefusedError as exc:
            raise UnreachableError(
                f"admin port refused at {self.describe}",
                hint="is Envoy running and the admin port right? (check --admin-url)",
            ) from exc
        except TimeoutError as exc:
            raise UnreachableError(
                f"admin API at {self.describe} did not answer {method} {path.split('?')[0]} "
                f"within {timeout:g}s",
                hint="raise --request-timeout",
            ) from exc
        except socket.gaierror as exc:
            raise UnreachableError(f"admin API host {self.host!r} does not resolve") from exc
        except (OSError, ValueError) as exc:
            raise UnreachableError(
                f"admin API at {self.describe} failed: {exc.__class__.__name__}: {exc}"
            ) from exc
        finally:
            if sock is not None:
                sock.close()
