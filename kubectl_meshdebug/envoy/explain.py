"""Access-log entries in words: flags spelled out, details and transport failure decoded,
and the finding id that usually explains them."""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.envoy.accesslog import AccessLogEntry
from kubectl_meshdebug.envoy.flags import FLAGS

_DETAILS = [
    ("connection_termination", "the upstream closed the connection before answering",
     "tls-mode-mismatch"),
    ("protocol_error", "the upstream's response broke HTTP", "upstream-protocol-error"),
    ("overflow", "a circuit breaker overflowed", "circuit-breaker-overflow"),
    ("no_healthy_upstream", "the cluster has no healthy endpoint", "no-endpoints"),
    ("cluster_not_found", "the route's cluster does not exist", "vs-subset-undefined"),
    ("route_not_found", "no route matched", "route-not-found"),
    ("Connection_refused", "nothing listens on the endpoint", "target-port-not-listening"),
    ("HTTP_REQUEST", "plaintext was sent to a TLS port", "tls-mode-mismatch"),
    ("CERTIFICATE_VERIFY_FAILED", "the server certificate failed verification",
     "upstream-connect-failure"),
    ("SSLV3_ALERT_HANDSHAKE_FAILURE", "the server refused the TLS handshake",
     "upstream-connect-failure"),
    ("via_upstream", "the upstream itself answered", ""),
]


def explain_entry(entry: AccessLogEntry) -> dict[str, Any]:
    words = []
    finding = ""
    for code in entry.flags:
        flag = FLAGS.get(code)
        if flag:
            words.append(f"{code} = {flag.name}: {flag.meaning}")
            finding = finding or flag.finding
        else:
            words.append(f"{code}: unknown flag")
    text = f"{entry.details} {entry.transport_failure}"
    decisive = ("protocol_error", "Connection_refused", "HTTP_REQUEST", "cluster_not_found",
                "CERTIFICATE_VERIFY_FAILED", "SSLV3_ALERT_HANDSHAKE_FAILURE")
    for needle, meaning, check in _DETAILS:
        if needle.lower() in text.lower():
            if not entry.flags or needle in decisive:
                words.append(meaning)
            if check and (not finding or needle in decisive):
                finding = check
            break
    return {"explanation": "; ".join(words) or ("ok" if entry.status < 400 else ""),
            "finding": finding,
            "docs": f"docs/checks/{finding}.md" if finding else ""}


def status_matches(entry: AccessLogEntry, wanted: str) -> bool:
    """`5xx`, `503`, `4xx,5xx`."""
    for part in wanted.split(","):
        part = part.strip().lower()
        if part.endswith("xx") and part[:1].isdigit():
            if str(entry.status).startswith(part[0]):
                return True
        elif part.isdigit() and int(part) == entry.status:
            return True
    return False
