"""Reach the admin port through the API server's port-forward (`--transport port-forward`),
as istioctl does.

For images where exec is forbidden by policy or the container has neither pilot-agent nor
curl. One HTTP/1.1 request per forward with `Connection: close` (Envoy's admin refuses
HTTP/1.0 with 426), so the end of the answer is the end of the stream; the status line,
headers and a chunked body are parsed by http.client.
"""

from __future__ import annotations

import http.client
import io
import socket
import time
from typing import Any

from kubectl_meshdebug.errors import BadAnswerError, UnreachableError
from kubectl_meshdebug.kube.apierrors import translate_api_error
from kubectl_meshdebug.transport.base import (
    DEFAULT_MAX_BYTES,
    AdminResponse,
    checked_request_line,
    too_big,
)
from kubectl_meshdebug.transport.exec import _stream_error, set_socket_timeout


class _Replay(io.BytesIO):
    """Lets http.client parse a response we already read whole."""

    def makefile(self, *_args: Any, **_kw: Any) -> io.BytesIO:
        return self


def parse_http_response(raw: bytes) -> AdminResponse:
    """Parse status line, headers and body (plain or chunked) of a complete response."""
    resp = http.client.HTTPResponse(_Replay(raw))  # type: ignore[arg-type]
    try:
        resp.begin()
        return AdminResponse(resp.status, resp.read())
    except (http.client.HTTPException, ValueError) as exc:
        raise BadAnswerError(f"port-forward returned no HTTP response: {exc}") from exc


class PortForwardTransport:
    """Opens a port-forward websocket per request and speaks HTTP/1.1 over it."""

    def __init__(self, connection: Any, namespace: str, pod: str, port: int = 15000,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.connection = connection
        self.namespace = namespace
        self.pod = pod
        self.port = port
        self.max_bytes = max_bytes
        self.describe = f"port-forward {namespace}/{pod}:{port}"

    def _failed(self, error: UnreachableError) -> UnreachableError:
        if "in time" in error.message or "cannot reach the API server" in error.message:
            self.connection.mark_down(error)
        return error

    def request(self, method: str, path: str, timeout: float) -> AdminResponse:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import portforward

        method, path = checked_request_line(method, path)
        deadline = time.monotonic() + timeout
        set_socket_timeout(timeout)
        self.connection.check()
        try:
            core_api = self.connection.stream_api()
            forward = portforward(
                core_api.connect_get_namespaced_pod_portforward,
                self.pod,
                self.namespace,
                ports=str(self.port),
            )
        except ApiException as exc:
            if not exc.status:
                raise self._failed(_stream_error(Exception(exc.reason), "port-forward to",
                                                 self.namespace, self.pod)) from exc
            raise translate_api_error(
                exc, verb="create", resource="pods/portforward", namespace=self.namespace,
                name=self.pod,
            ) from exc
        except Exception as exc:
            raise self._failed(_stream_error(exc, "port-forward to", self.namespace,
                                             self.pod)) from exc
        chunks: list[bytes] = []
        size = 0
        try:
            sock = forward.socket(self.port)
            sock.settimeout(timeout)
            sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
                         "Connection: close\r\nAccept: */*\r\n\r\n".encode())
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                sock.settimeout(left)
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise too_big(self.describe, path, self.max_bytes)
                chunks.append(chunk)
        except (socket.timeout, TimeoutError) as exc:
            raise UnreachableError(
                f"admin API through {self.describe} did not answer {method} "
                f"{path.split('?')[0]} within {timeout:g}s", hint="raise --request-timeout",
            ) from exc
        except OSError as exc:
            raise UnreachableError(f"port-forward to {self.describe} broke: {exc}") from exc
        finally:
            try:
                forward.close()
            except Exception:  # noqa: BLE001 - closing a broken forward must not mask the cause
                pass
        raw = b"".join(chunks)
        if not raw:
            error = forward.error(self.port)
            raise UnreachableError(
                f"admin port {self.port} refused in {self.namespace}/{self.pod}"
                + (f": {' '.join(str(error).split())}" if error else "")
            )
        return parse_http_response(raw)
