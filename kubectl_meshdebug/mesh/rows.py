"""Rows for the proxy-config commands: Envoy records, joined to the mesh when known.

Every row is a plain dict of typed values, the `-o json` item shape documented in
docs/commands/proxy-config.md; the words and abbreviations of the tables are made in
render/proxyconfig.py. Filters run on Envoy's records before anything is joined.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubectl_meshdebug.envoy.clusters_status import ClusterStatus
from kubectl_meshdebug.envoy.config_dump import ClusterRecord, ConfigDump, RouteRecord
from kubectl_meshdebug.kube.state import full_name, meta, ref
from kubectl_meshdebug.mesh.correlate import MeshContext, owning_config
from kubectl_meshdebug.mesh.names import ClusterName, parse_cluster_name, parse_route_config_name
from kubectl_meshdebug.mesh.policy import tls_agrees

ClusterFilter = Callable[[ClusterRecord, ClusterName], bool]


def _ns_name(reference: str, kind: str) -> str:
    """`DestinationRule foo/httpbin` -> `foo/httpbin` ("" for other kinds)."""
    prefix = kind + " "
    return reference[len(prefix):] if reference.startswith(prefix) else ""


def _services_host(rec: ClusterRecord) -> str:
    services = rec.istio.get("services")
    if isinstance(services, list) and services and isinstance(services[0], dict):
        host = services[0].get("host")
        if isinstance(host, str):
            return host
    return ""


def cluster_filter(*, fqdn: str | None = None, port: int | None = None,
                   subset: str | None = None, direction: str | None = None) -> ClusterFilter:
    """istioctl's ClusterFilter.Verify: the options a user gave, on the record alone."""

    def keep(rec: ClusterRecord, name: ClusterName) -> bool:
        host = _services_host(rec) or name.fqdn
        if fqdn and not (host == fqdn or host.startswith(fqdn + ".")):
            return False
        if port is not None and name.port != port:
            return False
        if subset is not None and name.subset != subset:
            return False
        if direction:
            kind = name.direction if name.direction in ("inbound", "outbound") else "other"
            if kind != direction:
                return False
        return True

    return keep


def _sort_key(row: dict[str, Any]) -> tuple[str, int, str, str]:
    """istioctl's order: service, then port, then subset, then direction."""
    return (row["fqdn"] or row["name"], row["port"] or 0, row["subset"], row["direction"])


def cluster_rows(dump: ConfigDump, statuses: dict[str, ClusterStatus] | None,
                 ctx: MeshContext | None, keep: ClusterFilter | None = None
                 ) -> list[dict[str, Any]]:
    chosen = []
    for rec in dump.clusters():
        name = parse_cluster_name(rec.name)
        if keep is None or keep(rec, name):
            chosen.append((rec, name))
    eds_counts: dict[str, list[int]] = {}
    if statuses is None and dump.has_endpoints():
        for ep in dump.endpoints():
            counts = eds_counts.setdefault(ep.cluster, [0, 0])
            counts[1] += 1
            if ep.health in ("HEALTHY", "UNKNOWN", ""):
                counts[0] += 1
    items = []
    for rec, name in chosen:
        status = statuses.get(rec.name) if statuses is not None else None
        healthy: int | None
        total: int | None
        if status is not None:
            healthy, total = status.healthy_count, len(status.hosts)
        elif (rec.eds_service_name or rec.name) in eds_counts:
            healthy, total = eds_counts[rec.eds_service_name or rec.name]
        else:
            healthy = total = None
        applied = owning_config(rec.istio)
        row: dict[str, Any] = {
            "name": rec.name, "direction": name.direction, "port": name.port,
            "subset": name.subset, "fqdn": _services_host(rec) or name.fqdn,
            "type": rec.type, "state": rec.state,
            "healthy_endpoints": healthy, "total_endpoints": total,
            "tls": rec.tls.mode, "tls_sni": rec.tls.sni, "tls_sans": rec.tls.sans,
            "circuit_breakers": rec.circuit_breakers, "outlier_detection": rec.outlier,
            "istio_config": applied,
            # Istio names the rule it applied in the cluster's metadata: no objects needed
            "destination_rule": _ns_name(applied, "DestinationRule"),
        }
        if ctx is not None and name.direction == "outbound" and row["fqdn"]:
            _join(row, rec, name, ctx, applied)
        items.append(row)
    items.sort(key=_sort_key)
    return items


def _join(row: dict[str, Any], rec: ClusterRecord, name: ClusterName, ctx: MeshContext,
          applied: str) -> None:
    svc = ctx.service(row["fqdn"])
    dr = ctx.destination_rule(row["fqdn"])
    if row["destination_rule"]:
        ns, _, dr_name = row["destination_rule"].partition("/")
        dr = ctx.state.get("DestinationRule", ns, dr_name) or dr
    expected = ctx.expected_tls(name, dr)
    subset_name = rec.istio.get("subset") if isinstance(rec.istio.get("subset"), str) else ""
    subset = ctx.subset(dr, row["fqdn"], subset_name or name.subset)
    row.update({
        "service": ref(svc).split(" ", 1)[1] if svc else "",
        "destination_rule": row["destination_rule"] or (
            full_name(dr) if dr else ""),
        "subset_pods": len(subset.pods) if subset else (
            len(ctx.service_pods(row["fqdn"])) if svc else None),
        "expected_tls": expected.mode,
        "expected_tls_reason": expected.reason,
        "tls_mismatch": not tls_agrees(expected.mode, rec.tls.mode),
    })


def _route_row(rec: RouteRecord) -> dict[str, Any]:
    vs = owning_config(rec.istio)
    action = rec.raw.get("route") if isinstance(rec.raw.get("route"), dict) else {}
    return {
        "route_config": rec.route_config,
        "route_port": parse_route_config_name(rec.route_config).port,
        "inline_listener": rec.inline_listener,
        "virtual_host": rec.virtual_host, "domains": rec.domains,
        "match": rec.match, "match_spec": rec.raw.get("match") or {},
        "action": rec.action,
        "clusters": [{"name": c, "weight": w} for c, w in rec.clusters],
        "timeout": action.get("timeout"),
        "virtual_service": _ns_name(vs, "VirtualService"),
        "route_name": str(rec.raw.get("name", "")),
    }


def route_rows(dump: ConfigDump, ctx: MeshContext | None,
               inline: bool = False) -> list[dict[str, Any]]:
    """Routes of the RDS route configs (what istioctl lists), and with `inline` those
    inlined in listeners too, marked with their listener."""
    return [_route_row(rec) for rec in dump.routes() if inline or not rec.inline_listener]


def _single_cluster(inline: dict[str, Any]) -> str:
    """The cluster of an inline route config that has one catch-all route, as istioctl
    names it ("Cluster: NAME"), else ""."""
    vhosts = inline.get("virtual_hosts") if isinstance(inline.get("virtual_hosts"), list) else []
    if len(vhosts) != 1 or not isinstance(vhosts[0], dict):
        return ""
    routes = vhosts[0].get("routes") if isinstance(vhosts[0].get("routes"), list) else []
    if len(routes) != 1 or not isinstance(routes[0], dict):
        return ""
    match = routes[0].get("match") if isinstance(routes[0].get("match"), dict) else None
    action = routes[0].get("route") if isinstance(routes[0].get("route"), dict) else {}
    if match is None:
        return ""
    if match.get("prefix") in ("/", None) and not match.get("headers") and \
            isinstance(action.get("cluster"), str) and set(match) <= {"prefix",
                                                                     "case_sensitive"}:
        return str(action["cluster"])
    return ""


def _inline_matches(inline: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    vhosts = inline.get("virtual_hosts")
    for vhost in vhosts if isinstance(vhosts, list) else []:
        routes = vhost.get("routes") if isinstance(vhost, dict) else None
        for route in routes if isinstance(routes, list) else []:
            if isinstance(route, dict) and isinstance(route.get("match"), dict):
                out.append(route["match"])
    return out


def listener_rows(dump: ConfigDump) -> list[dict[str, Any]]:
    items = []
    for rec in dump.listeners():
        base = {"name": rec.name, "address": rec.address, "port": rec.port,
                "state": rec.state, "direction": rec.direction, "error": rec.error}
        if not rec.chains:
            items.append({**base, "chain": "", "match": {}, "chain_port": None, "type": "",
                          "tls_required": False, "client_cert_required": False,
                          "route_config": "", "inline_cluster": "", "inline_matches": [],
                          "tcp_cluster": "", "filters": []})
        for chain in rec.chains:
            inline = chain.inline_routes if isinstance(chain.inline_routes, dict) else None
            items.append({
                **base, "chain": chain.name, "match": chain.match,
                "chain_port": chain.match.get("destination_port"), "type": chain.protocol,
                "tls_required": chain.tls_required,
                "client_cert_required": chain.tls_client_cert_required,
                "route_config": chain.route_config,
                "inline_cluster": _single_cluster(inline) if inline else "",
                "inline_matches": _inline_matches(inline) if inline else [],
                "tcp_cluster": chain.tcp_cluster, "filters": chain.filters,
            })
    return items


def _pod_for(ctx: MeshContext | None, address: str) -> tuple[str, str]:
    if ctx is None:
        return "", ""
    pod = ctx.pods_by_ip.get(address)
    if pod is None:
        return "", ""
    from kubectl_meshdebug.kube.targets import is_ready

    m = meta(pod)
    return f"{m.get('namespace')}/{m.get('name')}", "ready" if is_ready(pod) else "not ready"


def _endpoint_order(row: dict[str, Any]) -> tuple[int, int, str, int, str]:
    """By address (numerically for IPs), port, cluster, as istioctl lists them: Envoy's own
    order of /clusters changes from run to run."""
    import ipaddress

    address = str(row.get("address") or "")
    try:
        ip = ipaddress.ip_address(address)
        key = (ip.version, int(ip), "")
    except ValueError:
        key = (9, 0, address)
    port = row.get("port")
    return (*key[:2], key[2], port if isinstance(port, int) else -1, str(row.get("cluster")))


def endpoint_rows(statuses: dict[str, ClusterStatus], ctx: MeshContext | None) -> list[dict]:
    items = []
    for status in statuses.values():
        for host in status.hosts:
            pod, readiness = _pod_for(ctx, host.address)
            items.append({
                "endpoint": f"{host.address}:{host.port}" if host.port is not None
                else host.address,
                "address": host.address, "port": host.port,
                "status": "HEALTHY" if host.healthy else "UNHEALTHY",
                "health": host.health_text, "health_flags": host.flags,
                "eds_health_status": host.eds_health, "cluster": status.name,
                "weight": host.weight, "locality": host.locality,
                "rq_total": host.stats.get("rq_total", 0),
                "rq_error": host.stats.get("rq_error", 0),
                "rq_timeout": host.stats.get("rq_timeout", 0),
                "cx_connect_fail": host.stats.get("cx_connect_fail", 0),
                "success_rate": host.success_rate,
                "pod": pod, "pod_readiness": readiness,
            })
    return sorted(items, key=_endpoint_order)


def endpoint_rows_from_dump(dump: ConfigDump, ctx: MeshContext | None) -> list[dict[str, Any]]:
    items = []
    for ep in dump.endpoints():
        pod, readiness = _pod_for(ctx, ep.address)
        healthy = ep.health in ("HEALTHY", "UNKNOWN", "")
        items.append({
            "endpoint": f"{ep.address}:{ep.port}" if ep.port is not None else ep.address,
            "address": ep.address, "port": ep.port,
            "status": "HEALTHY" if healthy else "UNHEALTHY",
            "health": "healthy" if healthy else f"EDS {ep.health}", "health_flags": [],
            "eds_health_status": ep.health, "cluster": ep.cluster, "weight": ep.weight,
            "locality": ep.locality, "pod": pod, "pod_readiness": readiness,
        })
    return sorted(items, key=_endpoint_order)

