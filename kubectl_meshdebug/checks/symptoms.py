"""From a symptom in an access-log line to the finding that usually explains it.

`logs --explain` names that finding next to each line; why-503 proves it. The knowledge
of which finding explains which flag lives here, in the checks layer: Envoy's layer only
spells flags and details out in words.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.denials import AUTHZ_DENIED, JWT_REJECTED
from kubectl_meshdebug.checks.paths import CLUSTER_NOT_FOUND, NO_ENDPOINTS, ROUTE_NOT_FOUND
from kubectl_meshdebug.checks.routing import VS_SUBSET_UNDEFINED
from kubectl_meshdebug.checks.tls import TLS_MODE_MISMATCH
from kubectl_meshdebug.checks.upstream import (
    CIRCUIT_BREAKER_OVERFLOW,
    ROUTE_TIMEOUT,
    TARGET_PORT_NOT_LISTENING,
    UPSTREAM_CONNECT_FAILURE,
    UPSTREAM_PROTOCOL_ERROR,
)
from kubectl_meshdebug.envoy.accesslog import AccessLogEntry
from kubectl_meshdebug.envoy.explain import DECISIVE, explain_entry

BY_FLAG = {
    "UH": NO_ENDPOINTS, "UF": UPSTREAM_CONNECT_FAILURE, "UO": CIRCUIT_BREAKER_OVERFLOW,
    "NR": ROUTE_NOT_FOUND, "NC": CLUSTER_NOT_FOUND, "UC": TLS_MODE_MISMATCH,
    "UPE": UPSTREAM_PROTOCOL_ERROR, "UT": ROUTE_TIMEOUT,
}
BY_DETAIL = {
    "connection_termination": TLS_MODE_MISMATCH, "protocol_error": UPSTREAM_PROTOCOL_ERROR,
    "overflow": CIRCUIT_BREAKER_OVERFLOW, "no_healthy_upstream": NO_ENDPOINTS,
    "cluster_not_found": VS_SUBSET_UNDEFINED, "route_not_found": ROUTE_NOT_FOUND,
    "Connection_refused": TARGET_PORT_NOT_LISTENING, "HTTP_REQUEST": TLS_MODE_MISMATCH,
    "WRONG_VERSION_NUMBER": TLS_MODE_MISMATCH, "response_timeout": ROUTE_TIMEOUT,
    "CERTIFICATE_VERIFY_FAILED": UPSTREAM_CONNECT_FAILURE,
    "SSLV3_ALERT_HANDSHAKE_FAILURE": UPSTREAM_CONNECT_FAILURE,
    "TLSV1_ALERT_UNKNOWN_CA": UPSTREAM_CONNECT_FAILURE,
    "denied:rbac": AUTHZ_DENIED, "denied:ext_authz": AUTHZ_DENIED, "denied:jwt": JWT_REJECTED,
}


def likely_finding(entry: AccessLogEntry, detail: str = "") -> str:
    """The id of the finding that usually explains this line ("" when none does)."""
    by_flag = next((BY_FLAG[f] for f in entry.flags if f in BY_FLAG), None)
    by_detail = BY_DETAIL.get(detail)
    if by_detail is not None and (by_flag is None or detail in DECISIVE
                                  or detail.startswith("denied:")):
        return by_detail.id
    return by_flag.id if by_flag is not None else ""


def explain(entry: AccessLogEntry) -> dict[str, Any]:
    """The line in words, with the likely finding and its docs page."""
    words = explain_entry(entry)
    finding = likely_finding(entry, words.pop("detail", ""))
    return {**words, "finding": finding,
            "docs": f"docs/checks/{finding}.md" if finding else "",
            "explain": f"kubectl meshdebug explain {finding}" if finding else ""}
