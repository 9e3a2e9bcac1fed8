"""Reach the admin port by exec into the proxy container, as `istioctl proxy-config` does.

`pilot-agent request METHOD PATH` is tried first because it exists in every Istio proxy
image, including distroless ones without curl. It prints only the body and hides the
HTTP status (404 counts as success), so the admin client recognises Envoy's error bodies.
When pilot-agent is missing, or the admin port is not one it accepts, curl is used with
`-w` so that the status comes back on the last line.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from kubectl_meshdebug.errors import MeshdebugError, UnreachableError
from kubectl_meshdebug.kube.apierrors import translate_api_error
from kubectl_meshdebug.transport.base import (
    DEFAULT_MAX_BYTES,
    AdminResponse,
    checked_request_line,
    too_big,
)

PILOT_AGENT_PORTS = (15000, 15020, 15021, 15004)
_STATUS_IN_MESSAGE = re.compile(r"status code:? (\d{3})")
_CURL_STATUS_MARK = b"\n__meshdebug_status:"
# After each answer of a batch, curl writes its status and body size; the answers are
# cut out from the end backwards by those sizes, so no body can forge a boundary.
_BATCH_WRITE_OUT = "\n__meshdebug_batch:%{http_code} %{size_download}\n"
_BATCH_MARK = re.compile(rb"\n__meshdebug_batch:(\d{3}) (\d{1,12})\n\Z")
TRACE = logging.getLogger("kubectl_meshdebug.exec")  # -vv: one line per exec


class ExecResult:
    """stdout, stderr and the exit code read from the exec stream's error channel."""

    def __init__(self, stdout: bytes, stderr: bytes, exit_code: int, message: str) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.exit_code = exit_code
        self.message = message


def parse_error_channel(raw: bytes | str) -> tuple[int, str]:
    """Turn the v1.Status JSON of channel 3 into (exit code, message).

    Success is `{"status":"Success"}`; a failed command carries
    `details.causes[{reason: ExitCode, message: "N"}]`; a command that could not start
    has only a message.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not text.strip():
        return 0, ""
    try:
        status = json.loads(text)
    except ValueError:
        return 1, text.strip()
    if not isinstance(status, dict):
        return 1, text.strip()
    if status.get("status") == "Success":
        return 0, ""
    message = str(status.get("message", ""))
    details = status.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    for cause in causes if isinstance(causes, list) else []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", "1")), message
            except (TypeError, ValueError):
                return 1, message
    return 126 if "not found" in message or "exec failed" in message else 1, message


def _as_bytes(chunk: Any) -> bytes:
    return chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8")


class ExecTransport:
    """Runs argv lists (never shell strings) in the proxy container through the API server.

    `connection.stream_api()` gives each exec a client of its own (see kube.client).
    """

    def __init__(
        self, connection: Any, namespace: str, pod: str, container: str, port: int = 15000,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.connection = connection
        self.max_bytes = max_bytes
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.port = port
        self.describe = f"exec {namespace}/{pod} -c {container} (port {port})"
        self._use_curl = port not in PILOT_AGENT_PORTS
        self._curl_missing = False

    def run(self, argv: list[str], timeout: float) -> ExecResult:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream

        deadline = time.monotonic() + timeout
        set_socket_timeout(timeout)
        self.connection.check()
        if TRACE.isEnabledFor(logging.DEBUG):
            from kubectl_meshdebug.text import one_line

            TRACE.debug("exec %s/%s -c %s -- %s", self.namespace, self.pod,
                        one_line(self.container), one_line(" ".join(argv)))
        try:
            core_api = self.connection.stream_api()
            client = stream(
                core_api.connect_get_namespaced_pod_exec,
                self.pod,
                self.namespace,
                container=self.container,
                command=argv,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                binary=True,
                _preload_content=False,
                _request_timeout=max(1, int(timeout)),
            )
        except ApiException as exc:
            if not exc.status:  # the websocket layer wraps every failure as status 0
                raise self._failed(_stream_error(Exception(exc.reason), "exec into",
                                                 self.namespace, self.pod)) from exc
            raise translate_api_error(
                exc, verb="create", resource="pods/exec", namespace=self.namespace,
                name=self.pod,
            ) from exc
        except MeshdebugError:
            raise
        except Exception as exc:  # websocket and urllib3 errors have no common base
            raise self._failed(_stream_error(exc, "exec into", self.namespace, self.pod)) \
                from exc
        out: list[bytes] = []
        err: list[bytes] = []
        size = 0
        try:
            while client.is_open():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise UnreachableError(
                        f"{argv[0]} in {self.namespace}/{self.pod} did not finish within "
                        f"{timeout:g}s",
                        hint="raise --request-timeout",
                    )
                client.update(timeout=min(1.0, left))
                if client.peek_stdout():
                    out.append(_as_bytes(client.read_stdout()))
                    size += len(out[-1])
                if client.peek_stderr():
                    err.append(_as_bytes(client.read_stderr()))
                if size > self.max_bytes:
                    raise too_big(self.describe, argv[-1], self.max_bytes)
            # frames that arrived together with the close
            out.append(_as_bytes(client.read_stdout() or b""))
            err.append(_as_bytes(client.read_stderr() or b""))
            code, message = parse_error_channel(client.read_channel(3) or b"")
        finally:
            client.close()
        return ExecResult(b"".join(out), b"".join(err), code, message)

    def _failed(self, error: UnreachableError) -> UnreachableError:
        """A stream that could not even start because the API server did not answer marks
        the connection down, so the calls after it fail at once."""
        if "in time" in error.message or "cannot reach the API server" in error.message:
            self.connection.mark_down(error)
        return error

    def request(self, method: str, path: str, timeout: float) -> AdminResponse:
        method, path = checked_request_line(method, path)
        if not self._use_curl:
            argv = ["pilot-agent", "request", method, path.lstrip("/")]
            if self.port != 15000:
                argv += ["--debug-port", str(self.port)]
            result = self.run(argv, timeout)
            if result.exit_code == 0:
                return AdminResponse(None, result.stdout)
            if not _binary_missing(result):
                status = _STATUS_IN_MESSAGE.search(
                    (result.stdout + result.stderr).decode("utf-8", "replace")
                )
                body = result.stdout or result.stderr
                return AdminResponse(int(status.group(1)) if status else None, body)
            self._use_curl = True
        return self._curl(method, path, timeout)

    def request_batch(self, method: str, paths: list[str],
                      timeout: float) -> list[AdminResponse | None] | None:
        """Several admin calls in one exec: every exec is a stream set up through the API
        server and the kubelet, the cost that dominates small admin calls. curl fetches
        the paths one after another in the container; pilot-agent takes one path per run,
        so without curl (distroless images) this returns None and the caller makes the
        calls one by one. An answer curl could not get is None in the list: that call is
        then made alone, where its error is reported as usual."""
        if self._curl_missing or not paths:
            return None
        argv = batch_argv(method, paths, self.port, timeout)
        result = self.run(argv, timeout)  # one --request-timeout for the round trip
        if _binary_missing(result):
            self._curl_missing = True
            return None
        return split_batch(result.stdout, len(paths))

    def _curl(self, method: str, path: str, timeout: float) -> AdminResponse:
        argv = _curl_argv(method, timeout, _CURL_STATUS_MARK.decode() + "%{http_code}")
        argv.append(f"http://127.0.0.1:{self.port}{path}")
        result = self.run(argv, timeout)
        if _binary_missing(result):
            raise UnreachableError(
                f"neither pilot-agent nor curl exists in container {self.container} of "
                f"{self.namespace}/{self.pod}",
                hint="use --transport port-forward, or --admin-url with your own "
                "kubectl port-forward",
            )
        body, mark, status = result.stdout.rpartition(_CURL_STATUS_MARK)
        if not mark:
            body, status = result.stdout, b""
        status = status.strip()
        # bytes.isdigit() accepts ASCII digits only, which is what int() takes here.
        code = int(status) if status.isdigit() else 0
        if code == 0:
            raise UnreachableError(
                f"admin port {self.port} refused in {self.namespace}/{self.pod}",
                hint="check --admin-port and that the proxy is running",
                detail=result.stderr.decode("utf-8", "replace"),
            )
        return AdminResponse(code, body)


def batch_argv(method: str, paths: list[str], port: int, timeout: float,
               host: str = "127.0.0.1") -> list[str]:
    """curl fetching PATHS from the admin port in order, each answer followed by its
    status and size (globbing off: `[` and `{` in a path are not curl patterns)."""
    checked = [checked_request_line(method, path)[1] for path in paths]
    return _curl_argv(method, timeout, _BATCH_WRITE_OUT) + [
        f"http://{host}:{port}{path}" for path in checked]


def _curl_argv(method: str, timeout: float, write_out: str) -> list[str]:
    """curl quiet but for errors, globbing off, within TIMEOUT, WRITE_OUT after each answer."""
    return ["curl", "-sS", "-g", "-X", method, "--max-time", f"{max(1, int(timeout))}",
            "-w", write_out]


def split_batch(stdout: bytes, count: int) -> list[AdminResponse | None] | None:
    """COUNT answers of a batched curl, or None when the output is not COUNT of them
    exactly (a curl that stopped, output cut at the size cap)."""
    answers: list[AdminResponse | None] = []
    end = len(stdout)
    while end > 0 and len(answers) < count:
        mark = _BATCH_MARK.search(stdout, max(0, end - 64), end)
        if mark is None:
            return None
        size = int(mark.group(2))
        begin = mark.start() - size
        if begin < 0:
            return None
        code = int(mark.group(1))
        answers.append(AdminResponse(code, stdout[begin:mark.start()]) if code else None)
        end = begin
    if end != 0 or len(answers) != count:
        return None
    answers.reverse()
    return answers


def set_socket_timeout(timeout: float) -> None:
    """Every exec and port-forward stream gets a socket timeout from its first byte.

    The kubernetes client opens its websockets with `WebSocket(...)` and passes no
    timeout, and websocket-client 1.x leaves the socket blocking unless one is given
    (its module-wide default is not consulted): an API server that accepted the TCP
    connection and then froze held the TLS handshake, and the command, until it thawed.
    The client module's WebSocket is therefore one that starts with the module default,
    set here from --request-timeout (called when a stream is opened, so commands that
    never open one do not import websocket-client)."""
    import websocket
    from kubernetes.stream import ws_client

    websocket.setdefaulttimeout(max(1.0, float(timeout)))
    if getattr(ws_client.WebSocket, "meshdebug_timed", False):
        return

    class TimedWebSocket(websocket.WebSocket):  # type: ignore[misc]
        """A WebSocket whose socket times out after the module default, not never."""

        meshdebug_timed = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sock_opt.timeout = websocket.getdefaulttimeout()

    ws_client.WebSocket = TimedWebSocket  # type: ignore[misc]


def _stream_error(exc: Exception, what: str, namespace: str, pod: str) -> UnreachableError:
    """A websocket handshake refused by the API server carries its HTTP status in the
    message ("Handshake status 403 Forbidden ..."); name the RBAC rule then."""
    text = " ".join(str(exc).split())
    status = re.search(r"[Hh]andshake status (\d{3})", text)
    if status and status.group(1) in ("401", "403"):
        resource = "pods/exec" if what.startswith("exec") else "pods/portforward"
        if status.group(1) == "401":
            return UnreachableError("the API server rejected your credentials (401 Unauthorized)",
                                    hint="refresh your kubeconfig login")
        return UnreachableError(
            f"forbidden: you may not create {resource} in namespace {namespace}",
            hint=f"ask for RBAC verbs 'create' and 'get' on '{resource}' in namespace "
                 f"{namespace} (see docs/rbac.md)", detail=text)
    if status and status.group(1) in ("400", "404"):
        body = text.split("-+-+-")[-1][:300]
        return UnreachableError(f"cannot {what} {namespace}/{pod}: {body.strip()}")
    if "timed out" in text.lower():
        return UnreachableError(f"the API server did not answer the {what.split()[0]} of "
                                f"{namespace}/{pod} in time",
                                hint="check the cluster is up, or raise --request-timeout")
    return UnreachableError(
        f"cannot reach the API server to {what} {namespace}/{pod}: {text[:300]}",
        hint="check --context/--kubeconfig, your network, and that the pod is Running")


def _binary_missing(result: ExecResult) -> bool:
    """exec could not start the program (126/127, or the runtime said it is not found)."""
    text = (result.message + result.stderr.decode("utf-8", "replace")).lower()
    return result.exit_code in (126, 127) or "executable file not found" in text or (
        "no such file" in text and "exec" in text
    )
