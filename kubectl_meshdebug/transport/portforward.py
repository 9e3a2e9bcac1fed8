"""Reach the admin port through the API server's port-forward (`--transport port-forward`),
as istioctl does.

For images where exec is forbidden by policy or the container has neither pilot-agent nor
curl. One HTTP/1.1 request per forward with `Connection: close` (Envoy's admin refuses
HTTP/1.0 with 426), so the end of the answer is the end of the stream; the status line,
headers and a chunked body are parsed by http.client.
"""

from __future__ import annotations

import time
from typing import Any

from kubectl_meshdebug.errors import MeshdebugError, UnreachableError
from kubectl_meshdebug.kube.apierrors import translate_api_error
from kubectl_meshdebug.transport.base import (
    DEFAULT_MAX_BYTES,
    AdminResponse,
    checked_request_line,
    exchange,
    parse_http_response,
)
from kubectl_meshdebug.transport.exec import _stream_error, set_socket_timeout


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
        except MeshdebugError:
            raise
        except Exception as exc:
            raise self._failed(_stream_error(exc, "port-forward to", self.namespace,
                                             self.pod)) from exc
        try:
            raw = exchange(forward.socket(self.port), method, path, deadline, self.max_bytes,
                           self.describe)
        except TimeoutError as exc:
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
        if not raw:
            error = forward.error(self.port)
            raise UnreachableError(
                f"admin port {self.port} refused in {self.namespace}/{self.pod}"
                + (f": {' '.join(str(error).split())}" if error else "")
            )
        return parse_http_response(raw, self.describe, path, self.max_bytes)
