"""Reach the admin port through the API server's port-forward (`--transport port-forward`).

For images where exec is forbidden by policy or the container has neither pilot-agent nor
curl. One HTTP/1.0 request per forward, so the end of the body is the end of the stream.
"""

from __future__ import annotations

import http.client
import io
from typing import Any

from kubectl_meshdebug.errors import UnreachableError
from kubectl_meshdebug.kube.apierrors import translate_api_error
from kubectl_meshdebug.transport.base import AdminResponse, checked_request_line


class _Replay(io.BytesIO):
    """Lets http.client parse a response we already read whole."""

    def makefile(self, *_args: Any, **_kw: Any) -> io.BytesIO:
        return self


def parse_http_response(raw: bytes) -> AdminResponse:
    """Parse status line, headers and body of a complete HTTP/1.x response."""
    resp = http.client.HTTPResponse(_Replay(raw))  # type: ignore[arg-type]
    try:
        resp.begin()
        return AdminResponse(resp.status, resp.read())
    except (http.client.HTTPException, ValueError) as exc:
        raise UnreachableError(f"port-forward returned no HTTP response: {exc}") from exc


class PortForwardTransport:
    """Opens a port-forward websocket per request and speaks HTTP/1.0 over it."""

    def __init__(self, core_api: Any, namespace: str, pod: str, port: int = 15000) -> None:
        self.core_api = core_api
        self.namespace = namespace
        self.pod = pod
        self.port = port
        self.describe = f"port-forward {namespace}/{pod}:{port}"

    def request(self, method: str, path: str, timeout: float) -> AdminResponse:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import portforward

        method, path = checked_request_line(method, path)
        try:
            forward = portforward(
                self.core_api.connect_get_namespaced_pod_portforward,
                self.pod,
                self.namespace,
                ports=str(self.port),
            )
        except ApiException as exc:
            raise translate_api_error(
                exc, verb="create", resource="pods/portforward", namespace=self.namespace,
                name=self.pod,
            ) from exc
        except Exception as exc:
            raise UnreachableError(
                f"cannot reach the API server to port-forward to {self.namespace}/{self.pod}: "
                f"{exc}", hint="check --context/--kubeconfig and your network") from exc
        sock = forward.socket(self.port)
        sock.settimeout(timeout)
        chunks: list[bytes] = []
        try:
            sock.sendall(f"{method} {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            while True:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise UnreachableError(f"port-forward to {self.describe} broke: {exc}") from exc
        finally:
            forward.close()
        raw = b"".join(chunks)
        if not raw:
            error = forward.error(self.port)
            raise UnreachableError(
                f"admin port {self.port} refused in {self.namespace}/{self.pod}"
                + (f": {error}" if error else "")
            )
        return parse_http_response(raw)
