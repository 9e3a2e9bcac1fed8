"""The one interface every transport offers: send METHOD PATH, get status and body back.

`timeout` is a deadline for the whole answer, body included: a proxy that sends its
headers and then one byte every half second must not keep a command running for
minutes. `max_bytes` caps what one answer may hold, so that a runaway body ends as an
error instead of exhausting memory.
"""

from __future__ import annotations

import http.client
import io
import time
from dataclasses import dataclass
from typing import Any, Protocol

from kubectl_meshdebug.errors import BadAnswerError

# A 20,000-service sidecar's /config_dump?include_eds is about 150 MB.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024  # as --max-size (cli/options.py)
MAX_BATCH = 32  # admin paths in one round trip, for transports that batch


@dataclass
class AdminResponse:
    """What came back from the admin API.

    `status` is None when the transport cannot see the HTTP status (pilot-agent
    prints only the body); the admin client then recognises Envoy's error bodies.
    """

    status: int | None
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Transport(Protocol):
    """Reaches one proxy's admin API. `describe` names the way, for error messages."""

    describe: str

    def request(self, method: str, path: str, timeout: float) -> AdminResponse: ...


_ALLOWED_METHODS = ("GET", "POST")


def checked_request_line(method: str, path: str) -> tuple[str, str]:
    """Refuse anything that could change which admin path is called.

    Paths are built by the admin client with URL-encoded parameters, so a
    legitimate one never holds whitespace, control characters or `..`.
    """
    if method not in _ALLOWED_METHODS:
        raise ValueError(f"method {method!r} is not allowed")
    if not path.startswith("/") or any(c.isspace() or ord(c) < 32 or ord(c) == 127
                                       for c in path):
        raise ValueError(f"admin path {path!r} is not a clean absolute path")
    if ".." in path.split("?", 1)[0]:
        raise ValueError(f"admin path {path!r} climbs out of the admin API")
    return method, path


def too_big(describe: str, path: str, limit: int) -> BadAnswerError:
    return BadAnswerError(
        f"{describe} answered {path.split('?')[0]} with more than {limit // (1024 * 1024)} MiB",
        hint="raise --max-size if the proxy really is that large")


class _Replay(io.BytesIO):
    """Lets http.client parse a response already read whole."""

    def makefile(self, *_args: Any, **_kw: Any) -> io.BytesIO:
        return self


def exchange(sock: Any, method: str, path: str, deadline: float, max_bytes: int,
             describe: str) -> bytes:
    """Send one HTTP/1.1 request with `Connection: close` and read the raw answer to the
    end of the stream, all before `deadline` (time.monotonic()) and within `max_bytes`.

    Reading to EOF ourselves, rather than through http.client's line reader, is what makes
    the deadline hold for every byte: a header dripped one byte at a time ends at the
    deadline like a silent proxy. Raises socket.timeout at the deadline.
    """
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError()
    sock.settimeout(left)
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
                 "Connection: close\r\nAccept: */*\r\n\r\n".encode())
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError()
        sock.settimeout(left)
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes + 65536:  # the body's cap, plus room for the headers
            raise too_big(describe, path, max_bytes)
        chunks.append(chunk)


def parse_http_response(raw: bytes, describe: str, path: str,
                        max_bytes: int = DEFAULT_MAX_BYTES) -> AdminResponse:
    """Status and body (plain or chunked) of a complete raw answer; anything else that
    came back (not HTTP, a body shorter than its Content-Length) is a BadAnswerError."""
    resp = http.client.HTTPResponse(_Replay(raw))  # type: ignore[arg-type]
    try:
        resp.begin()
        body = resp.read()
    except (http.client.HTTPException, ValueError) as exc:
        what = "no HTTP answer" if not raw.startswith(b"HTTP/") else "a broken HTTP answer"
        raise BadAnswerError(f"{describe} sent {what} to {path.split('?')[0]}: "
                             f"{exc.__class__.__name__}: {str(exc)[:200]}") from exc
    if len(body) > max_bytes:
        raise too_big(describe, path, max_bytes)
    return AdminResponse(resp.status, body)
