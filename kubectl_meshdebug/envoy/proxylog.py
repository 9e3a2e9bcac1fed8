"""Envoy's own log lines (and pilot-agent's) that explain failures: config rejections,
readiness, HTTP/1 parser errors, TLS handshake errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("config-rejected", re.compile(
        r"config update rejected|update rejected|Only unique values for domains|"
        r"gRPC config for type\.googleapis\.com/\S+ rejected|"
        r"(?:cds|lds|rds) updates: \d+ successful, [1-9]\d* rejected", re.I)),
    ("not-ready", re.compile(r"Envoy proxy is NOT ready|PRE_INITIALIZING", re.I)),
    ("xds-unreachable", re.compile(
        r"gRPC config stream (?:to \S+ )?closed|StreamAggregatedResources gRPC config stream",
        re.I)),
    ("protocol-error", re.compile(
        r"HPE_[A-Z_]+|INVALID_HEADER_NAME_CHARACTER|http/1\.1 protocol error: \S+|"
        r"protocol error", re.I)),
    ("tls-error", re.compile(
        r"TLS_error|SSLV3_ALERT\w*|CERTIFICATE_VERIFY_FAILED|TLSV1_ALERT\w*|"
        r"OPENSSL_internal:HTTP_REQUEST|WRONG_VERSION_NUMBER", re.I)),
]


@dataclass
class LogSignal:
    kind: str
    match: str
    line: str


def scan(lines: list[str]) -> list[LogSignal]:
    signals = []
    for line in lines:
        for kind, pattern in PATTERNS:
            found = pattern.search(line)
            if found:
                signals.append(LogSignal(kind, found.group(0), line.strip()[:400]))
                break
    return signals
