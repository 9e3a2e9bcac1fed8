"""Access-log lines in Istio's default TEXT format (old and new layouts) and JSON format.

Lines that are not access logs (Envoy's own log, pilot-agent) are kept as `raw` so that
callers can show them instead of dropping them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.envoy.flags import split_flags
from kubectl_meshdebug.envoy.redact import scrub_line
from kubectl_meshdebug.numbers import count_number

_HEAD = re.compile(
    r'^\[(?P<start>[^\]]+)\] "(?P<method>\S+) (?P<path>\S*) (?P<protocol>[^"]*)" '
    r"(?P<code>\d{1,3}) (?P<flags>\S+) (?P<rest>.*)$")
_TOKEN = re.compile(r'"[^"]*"|\S+')


@dataclass
class AccessLogEntry:
    status: int
    flags: list[str]
    details: str = ""
    termination: str = ""
    transport_failure: str = ""
    method: str = ""
    path: str = ""
    authority: str = ""
    upstream_host: str = ""
    upstream_cluster: str = ""
    request_id: str = ""
    route_name: str = ""
    downstream_local: str = ""  # the address the caller dialled (original destination)
    start: str = ""
    duration_ms: int | None = None
    raw: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("raw", "extra")}


def _unquote(token: str) -> str:
    value = token[1:-1] if len(token) >= 2 and token.startswith('"') else token
    return "" if value == "-" else value


def parse_text(line: str) -> AccessLogEntry | None:
    match = _HEAD.match(line.strip())
    if not match:
        return None
    tokens = _TOKEN.findall(match.group("rest"))
    # Fields before BYTES_RECEIVED vary by Istio version: details, termination details,
    # "transport failure reason" (quoted). BYTES_RECEIVED is the first bare integer.
    i = next((k for k, t in enumerate(tokens) if count_number(t) is not None), len(tokens))
    before, after = tokens[:i], tokens[i:]
    quoted = [t for t in before if t.startswith('"')]
    bare = [t for t in before if not t.startswith('"')]
    entry = AccessLogEntry(
        status=int(match.group("code")), flags=split_flags(match.group("flags")),
        details=_unquote(bare[0]) if bare else "",
        termination=_unquote(bare[1]) if len(bare) > 1 else "",
        transport_failure=_unquote(quoted[-1]) if quoted else "",
        method=match.group("method"), path=scrub_line(match.group("path")),
        start=match.group("start"), raw=scrub_line(line.rstrip("\n")),
    )
    # rx tx duration upstream-time "xff" "ua" "request-id" "authority" "upstream-host"
    # cluster upstream-local downstream-local downstream-remote sni route
    if len(after) >= 3 and count_number(after[2]) is not None:
        entry.duration_ms = count_number(after[2])
    quoted_after = [k for k, t in enumerate(after) if t.startswith('"')]
    if len(quoted_after) >= 5:
        q = quoted_after
        entry.request_id = _unquote(after[q[2]])
        entry.authority = _unquote(after[q[3]])
        entry.upstream_host = _unquote(after[q[4]])
        tail = after[q[4] + 1:]
        if tail:
            entry.upstream_cluster = _unquote(tail[0])
        if len(tail) >= 3:
            entry.downstream_local = _unquote(tail[2])
        if len(tail) >= 6:
            entry.route_name = _unquote(tail[5])
    return entry


_JSON_KEYS = {
    "response_code": "status", "response_flags": "flags",
    "response_code_details": "details", "connection_termination_details": "termination",
    "upstream_transport_failure_reason": "transport_failure", "method": "method",
    "path": "path", "authority": "authority", "upstream_host": "upstream_host",
    "upstream_cluster": "upstream_cluster", "request_id": "request_id",
    "downstream_local_address": "downstream_local",
    "x_request_id": "request_id", "route_name": "route_name", "start_time": "start",
    "duration": "duration_ms",
}


def parse_json(line: str) -> AccessLogEntry | None:
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or "response_code" not in doc:
        return None
    fields: dict[str, Any] = {}
    for key, attr in _JSON_KEYS.items():
        if key in doc and doc[key] not in (None, "-"):
            fields[attr] = doc[key]
    try:
        status = int(fields.pop("status"))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if not 0 <= status < 1000:
        return None
    flags = split_flags(str(fields.pop("flags", "")))
    duration = fields.pop("duration_ms", None)
    entry = AccessLogEntry(status=status, flags=flags, raw=scrub_line(line.rstrip("\n")),
                           **{k: scrub_line(str(v)) for k, v in fields.items()})
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) and \
            math.isfinite(duration) and 0 <= duration < 1e12:
        entry.duration_ms = int(duration)
    return entry


def parse_line(line: str) -> AccessLogEntry | None:
    stripped = line.strip()
    if stripped.startswith("{"):
        return parse_json(stripped)
    return parse_text(stripped)


def parse_log(text: str) -> tuple[list[AccessLogEntry], list[str]]:
    """(access-log entries, the other lines) of a proxy log."""
    entries, others = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = parse_line(line)
        if entry is not None:
            entries.append(entry)
        else:
            others.append(line)
    return entries, others
