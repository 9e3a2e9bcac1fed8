"""Plain HTTP to an admin URL the user gave (`--admin-url`): a port-forward, a local Envoy."""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit

from kubectl_meshdebug.errors import UnreachableError, UsageError
from kubectl_meshdebug.transport.base import AdminResponse, checked_request_line


class DirectTransport:
    """Talks HTTP/1.1 straight to `http://HOST:PORT`; one connection per request."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise UsageError(f"--admin-url {url!r} is not an http://HOST:PORT URL")
        self.host = parts.hostname
        try:
            self.port = parts.port or 80
        except ValueError as exc:
            raise UsageError(f"--admin-url {url!r} has a bad port") from exc
        self.prefix = parts.path.rstrip("/")
        self.describe = f"http://{self.host}:{self.port}{self.prefix}"

    def request(self, method: str, path: str, timeout: float) -> AdminResponse:
        method, path = checked_request_line(method, path)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, self.prefix + path, headers={"Accept": "*/*"})
            resp = conn.getresponse()
            body = resp.read()
            return AdminResponse(resp.status, body)
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
        except (OSError, http.client.HTTPException) as exc:
            raise UnreachableError(
                f"admin API at {self.describe} failed: {exc.__class__.__name__}: {exc}"
            ) from exc
        finally:
            conn.close()
