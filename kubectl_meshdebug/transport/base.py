"""The one interface every transport offers: send METHOD PATH, get status and body back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
    if not path.startswith("/") or any(c.isspace() or ord(c) < 32 for c in path):
        raise ValueError(f"admin path {path!r} is not a clean absolute path")
    if ".." in path.split("?", 1)[0]:
        raise ValueError(f"admin path {path!r} climbs out of the admin API")
    return method, path
