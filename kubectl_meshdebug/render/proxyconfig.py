"""The words of the proxy-config tables, made from the data rows (mesh/rows.py).

Abbreviations (`conn=1,pending=1`), `(!)` marks, `+11 more` and istioctl's ways of naming
matches and destinations live here, so that `-o json` stays typed data."""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.envoy.protojson import duration_seconds
from kubectl_meshdebug.render.output import Column

UINT32_MAX = 2 ** 32 - 1


def breakers(cb: dict[str, int]) -> str:
    short = {"max_connections": "conn", "max_pending_requests": "pending",
             "max_requests": "rq", "max_retries": "retries"}
    return ",".join(f"{short[k]}={'max' if v >= UINT32_MAX else v}"
                    for k, v in cb.items() if k in short)


def outlier(od: dict[str, Any]) -> str:
    if not od:
        return ""
    parts = []
    for key, label in (("consecutive_5xx", "5xx"), ("consecutive_gateway_failure", "gw"),
                       ("interval", "every"), ("base_ejection_time", "eject"),
                       ("max_ejection_percent", "max%")):
        if key in od:
            value = od[key]
            parts.append(f"{label}={value.get('value', value) if isinstance(value, dict) else value}")
    return ",".join(parts) or "on"


def endpoints(row: dict[str, Any]) -> str:
    total = row.get("total_endpoints")
    return "" if total is None else f"{row.get('healthy_endpoints')}/{total}"


def expected_tls(row: dict[str, Any]) -> str:
    mode = row.get("expected_tls")
    if not mode:
        return ""
    return mode + (" (!)" if row.get("tls_mismatch") else "")


def service_column(row: dict[str, Any]) -> str:
    """The host for service clusters, the cluster's own name for the others (as istioctl)."""
    return row.get("fqdn") or row.get("name", "")


def domains(values: list[str]) -> str:
    if not values:
        return ""
    return values[0] + (f" +{len(values) - 1} more" if len(values) > 1 else "")


def targets(row: dict[str, Any]) -> str:
    clusters = row.get("clusters") or []
    text = ", ".join(c["name"] if c.get("weight") is None else f"{c['name']} ({c['weight']}%)"
                     for c in clusters)
    return text or str(row.get("action", ""))


def route_name(row: dict[str, Any]) -> str:
    inline = row.get("inline_listener")
    return f"{row['route_config']} (inline in {inline})" if inline else row["route_config"]


def istio_match(match: dict[str, Any]) -> str:
    """A route match as istioctl writes it: `/prefix*`, `/exact`, regex, with headers."""
    if "prefix" in match:
        text = f"{match['prefix']}*"
    elif "path" in match:
        text = str(match["path"])
    elif "path_separated_prefix" in match:
        text = f"{match['path_separated_prefix']}/*"
    elif match.get("safe_regex") or match.get("regex"):
        text = str((match.get("safe_regex") or {}).get("regex") or match.get("regex"))
    else:
        text = "/*"
    headers = [h.get("name", "") for h in match.get("headers") or [] if isinstance(h, dict)]
    return text + (" (headers " + ",".join(headers) + ")" if headers else "")


def _names(value: Any) -> str:
    """A list of names as one comma-separated string (a lone value as itself)."""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def chain_match(match: dict[str, Any]) -> str:
    bits = []
    if "destination_port" in match:
        bits.append(f"port={match['destination_port']}")
    if match.get("transport_protocol"):
        bits.append(f"transport={match['transport_protocol']}")
    if match.get("application_protocols"):
        bits.append("alpn=" + _names(match["application_protocols"]))
    if match.get("server_names"):
        bits.append("sni=" + _names(match["server_names"]))
    return " ".join(bits) or "ALL"


def chain_tls(row: dict[str, Any]) -> str:
    if row.get("client_cert_required"):
        return "mutual (client cert)"
    return "tls" if row.get("tls_required") else "none"


def destination(row: dict[str, Any]) -> str:
    """What a chain hands the connection to, in istioctl's words."""
    if row.get("route_config"):
        return f"Route: {row['route_config']}"
    if row.get("inline_cluster"):
        return f"Cluster: {row['inline_cluster']}"
    if row.get("inline_matches"):
        return "Inline Route: " + "; ".join(istio_match(m) for m in row["inline_matches"])
    if row.get("tcp_cluster"):
        return f"Cluster: {row['tcp_cluster']}"
    return ",".join(f for f in row.get("filters") or [] if f)


CLUSTER_COLUMNS = [
    Column("fqdn", "SERVICE FQDN", value=service_column), Column("port", "PORT"),
    Column("subset", "SUBSET"), Column("direction", "DIRECTION"), Column("type", "TYPE"),
    Column("endpoints", "ENDPOINTS", value=endpoints), Column("tls", "TLS"),
    Column("destination_rule", "DESTINATIONRULE"),
]
CLUSTER_JOINED = [Column("expected_tls", "EXPECTED TLS", value=expected_tls),
                  Column("subset_pods", "SUBSET PODS")]
CLUSTER_WIDE = [
    Column("circuit_breakers", "CIRCUIT BREAKERS", wide=True, fmt=breakers),
    Column("outlier_detection", "OUTLIER", wide=True, fmt=outlier),
    Column("name", "NAME", wide=True),
]
def route_timeout(row: dict[str, Any]) -> str:
    """Envoy's words for a route's timeout: `0s` disables it (what istiod writes when the
    VirtualService sets none), and a route action without one waits Envoy's default 15s."""
    action = str(row.get("action") or "")
    if action in ("redirect", "non-forwarding", "unknown") or action.startswith("direct"):
        return "-"  # no upstream, no timeout
    value = row.get("timeout")
    if value is None:
        return "15s (Envoy default)"
    if duration_seconds(value) == 0 or str(value) == "0":
        return "none (disabled)"
    return str(value)


ROUTE_COLUMNS = [
    Column("route_config", "NAME", value=route_name), Column("virtual_host", "VIRTUAL HOST"),
    Column("domains", "DOMAINS", fmt=domains),
    Column("match", "MATCH", value=lambda r: istio_match(r.get("match_spec") or {})),
    Column("clusters", "CLUSTERS", value=targets),
    Column("virtual_service", "VIRTUALSERVICE"),
    Column("action", "ACTION", wide=True),
    Column("timeout", "TIMEOUT", wide=True, value=route_timeout),
    Column("domains_all", "ALL DOMAINS", wide=True, value=lambda r: r.get("domains")),
]
LISTENER_COLUMNS = [
    Column("name", "NAME"), Column("address", "ADDRESS"), Column("port", "PORT"),
    Column("match", "MATCH", fmt=chain_match), Column("type", "TYPE"),
    Column("tls", "TLS", value=chain_tls), Column("destination", "DESTINATION",
                                                  value=destination),
    Column("chain", "CHAIN", wide=True), Column("state", "STATE", wide=True),
    Column("direction", "DIRECTION", wide=True), Column("error", "ERROR", wide=True),
]
ENDPOINT_COLUMNS = [
    Column("endpoint", "ENDPOINT"), Column("status", "STATUS"), Column("locality", "LOCALITY"),
    Column("cluster", "CLUSTER"), Column("health", "HEALTH"), Column("pod", "POD"),
    Column("weight", "WEIGHT", wide=True), Column("rq_total", "RQ TOTAL", wide=True),
    Column("rq_error", "RQ ERROR", wide=True),
    Column("cx_connect_fail", "CONNECT FAIL", wide=True),
]
