"""The grammar of the names istiod gives clusters, route configs and listeners.

Outbound `outbound|PORT|SUBSET|FQDN` (subset empty by default), inbound `inbound|PORT||`
(older `inbound|PORT|NAME|FQDN`), SNI-style `outbound_.PORT_.SUBSET_.FQDN`, and the
well-known names of the passthrough, blackhole and control-plane clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_meshdebug.numbers import port_number

SPECIAL_CLUSTERS = {
    "BlackHoleCluster": "blackhole",
    "PassthroughCluster": "passthrough",
    "InboundPassthroughCluster": "inbound-passthrough",
    "InboundPassthroughClusterIpv4": "inbound-passthrough",
    "InboundPassthroughClusterIpv6": "inbound-passthrough",
    "xds-grpc": "control-plane",
    "sds-grpc": "control-plane",
    "agent": "agent",
    "prometheus_stats": "agent",
    "zipkin": "tracing",
    "envoy_accesslog_service": "telemetry",
}


@dataclass(frozen=True)
class ClusterName:
    """A parsed cluster name. `direction` is outbound, inbound, or a special kind."""

    direction: str
    port: int | None = None
    subset: str = ""
    fqdn: str = ""


def parse_cluster_name(name: str) -> ClusterName:
    if name in SPECIAL_CLUSTERS:
        return ClusterName(SPECIAL_CLUSTERS[name])
    if name.startswith(("outbound|", "inbound|", "inbound-vip|")):
        parts = name.split("|")
        if len(parts) == 4:
            direction = parts[0]
            return ClusterName(direction, port_number(parts[1]), parts[2], parts[3])
    if name.startswith("outbound_."):
        # outbound_.9080_.v1_.reviews.default.svc.cluster.local
        parts = name.split("_.", 3)
        if len(parts) == 4 and port_number(parts[1]) is not None:
            return ClusterName("outbound", port_number(parts[1]), parts[2], parts[3])
    if name.startswith("inbound_."):
        parts = name.split("_.", 3)
        if len(parts) >= 2 and port_number(parts[1]) is not None:
            return ClusterName("inbound", port_number(parts[1]), "",
                               parts[3] if len(parts) == 4 else "")
    return ClusterName("other")


def outbound_cluster(port: int, fqdn: str, subset: str = "") -> str:
    return f"outbound|{port}|{subset}|{fqdn}"


@dataclass(frozen=True)
class RouteConfigName:
    """`8000`, `httpbin.foo.svc.cluster.local:8000`, `http.8080`, `https.443.NAME.GW.NS`."""

    port: int | None
    host: str = ""
    kind: str = "sidecar"


def parse_route_config_name(name: str) -> RouteConfigName:
    if port_number(name) is not None:
        return RouteConfigName(port_number(name))
    host, sep, port = name.rpartition(":")
    if sep and port_number(port) is not None:
        return RouteConfigName(port_number(port), host)
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] in ("http", "https") and port_number(parts[1]) is not None:
        return RouteConfigName(port_number(parts[1]), kind="gateway")
    return RouteConfigName(None, kind="other")


def fqdn_parts(fqdn: str, domain: str = "cluster.local") -> tuple[str, str] | None:
    """`httpbin.foo.svc.cluster.local` -> ("httpbin", "foo") for Kubernetes Services."""
    suffix = f".svc.{domain}"
    if fqdn.endswith(suffix):
        head = fqdn[: -len(suffix)]
        name, _, namespace = head.rpartition(".")
        if name and namespace:
            return name, namespace
    return None
