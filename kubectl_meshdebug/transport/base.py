"""The one interface every transport offers: send METHOD PATH, get status and body back.

`timeout` is a deadline for the whole answer, body included: a proxy that sends its
headers and then one byte every half second must not keep a command running for
minutes. `max_bytes` caps what one answer may hold, so that a runaway body ends as an
error instead of exhausting memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kubectl_meshdebug.errors import BadAnswerError

# A 20,000-service sidecar's /config_dump?include_eds is about 150 MB.
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024


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
        hint="raise --max-answer-size if the proxy really is that large")
