"""Table rows for the proxy-config commands: Envoy records, joined to the mesh when known.

Every row is a plain dict (the `-o json` item shape, documented in docs/commands/).
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.envoy.clusters_status import ClusterStatus
from kubectl_meshdebug.envoy.config_dump import ConfigDump
from kubectl_meshdebug.kube.state import meta, ref
from kubectl_meshdebug.mesh.correlate import MeshContext, owning_config
from kubectl_meshdebug.mesh.names import parse_cluster_name, parse_route_config_name
from kubectl_meshdebug.mesh.policy import tls_agrees


def _cb_text(cb: dict[str, int]) -> str:
    short = {"max_connections": "conn", "max_pending_requests": "pending",
             "max_requests": "rq", "max_retries": "retries"}
    parts = [f"{short[k]}={'max' if v >= 2**32 - 1 else v}" for k, v in cb.items() if k in short]
    return ",".join(parts)


def _outlier_text(outlier: dict[str, Any]) -> str:
    if not outlier:
        return ""
    parts = []
    for key, label in (("consecutive_5xx", "5xx"), ("consecutive_gateway_failure", "gw"),
                       ("interval", "every"), ("base_ejection_time", "eject"),
                       ("max_ejection_percent", "max%")):
        if key in outlier:
            value = outlier[key]
            parts.append(f"{label}={value.get('value', value) if isinstance(value, dict) else value}")
    return ",".join(parts) or "on"


def cluster_rows(dump: ConfigDump, statuses: dict[str, ClusterStatus] | None,
                 ctx: MeshContext | None) -> list[dict[str, Any]]:
    eds_counts: dict[str, list[int]] = {}
    if statuses is None and dump.has_endpoints():
        for ep in dump.endpoints():
            counts = eds_counts.setdefault(ep.cluster, [0, 0])
            counts[1] += 1
            if ep.health in ("HEALTHY", "UNKNOWN", ""):
                counts[0] += 1
    items = []
    for rec in dump.clusters():
        name = parse_cluster_name(rec.name)
        status = statuses.get(rec.name) if statuses is not None else None
        if status is not None:
            healthy, total = status.healthy_count, len(status.hosts)
        elif rec.eds_service_name and rec.eds_service_name in eds_counts or rec.name in eds_counts:
            healthy, total = eds_counts.get(rec.eds_service_name or rec.name, [0, 0])
        else:
            healthy = total = None
        row: dict[str, Any] = {
            "name": rec.name, "direction": name.direction, "port": name.port,
            "subset": name.subset, "fqdn": name.fqdn, "type": rec.type, "state": rec.state,
            "endpoints": f"{healthy}/{total}" if total is not None else "",
            "healthy_endpoints": healthy, "total_endpoints": total,
            "tls": rec.tls.mode, "tls_sni": rec.tls.sni, "tls_sans": rec.tls.sans,
            "circuit_breakers": rec.circuit_breakers,
            "circuit_breakers_text": _cb_text(rec.circuit_breakers),
            "outlier_detection": rec.outlier, "outlier_text": _outlier_text(rec.outlier),
            "istio_config": owning_config(rec.istio),
        }
        services = rec.istio.get("services") or []
        if services and isinstance(services[0], dict) and services[0].get("host"):
            row["fqdn"] = str(services[0]["host"])  # Istio's own join key beats the name
        if ctx is not None and name.direction == "outbound" and row["fqdn"]:
            svc = ctx.service(row["fqdn"])
            dr = ctx.destination_rule(row["fqdn"])
            applied = row["istio_config"]
            if applied.startswith("DestinationRule "):
                ns_name = applied.split(" ", 1)[1]
                dr = ctx.state.get("DestinationRule", *ns_name.split("/", 1)) or dr
            expected = ctx.expected_tls(name, dr)
            subset = ctx.subset(dr, row["fqdn"], rec.istio.get("subset") or name.subset)
            row.update({
                "service": ref(svc).split(" ", 1)[1] if svc else "",
                "destination_rule": f"{meta(dr).get('namespace')}/{meta(dr).get('name')}"
                if dr else "",
                "subset_pods": len(subset.pods) if subset else (
                    len(ctx.service_pods(row["fqdn"])) if svc else None),
                "expected_tls": expected.mode + ("" if tls_agrees(expected.mode, rec.tls.mode)
                                                 else " (!)"),
                "expected_tls_reason": expected.reason,
                "tls_mismatch": not tls_agrees(expected.mode, rec.tls.mode),
            })
        items.append(row)
    return items


def filter_clusters(items: list[dict[str, Any]], *, fqdn: str | None, port: int | None,
                    subset: str | None, direction: str | None) -> list[dict[str, Any]]:
    out = []
    for item in items:
        if fqdn and not (item["fqdn"] == fqdn or item["fqdn"].startswith(fqdn + ".")):
            continue
        if port is not None and item["port"] != port:
            continue
        if subset is not None and item["subset"] != subset:
            continue
        if direction and (item["direction"] if item["direction"] in ("inbound", "outbound")
                          else "other") != direction:
            continue
        out.append(item)
    return out


def route_rows(dump: ConfigDump, ctx: MeshContext | None) -> list[dict[str, Any]]:
    items = []
    for rec in dump.routes():
        vs = owning_config(rec.istio)
        targets = [c if w is None else f"{c} ({w}%)" for c, w in rec.clusters]
        domains = rec.domains
        items.append({
            "route_config": rec.route_config,
            "route_port": parse_route_config_name(rec.route_config).port,
            "virtual_host": rec.virtual_host, "domains": domains,
            "domains_text": domains[0] + (f" +{len(domains) - 1} more" if len(domains) > 1 else "")
            if domains else "",
            "match": rec.match, "action": rec.action,
            "clusters": [{"name": c, "weight": w} for c, w in rec.clusters],
            "targets_text": ", ".join(targets) or rec.action,
            "virtual_service": vs.split(" ", 1)[1] if vs.startswith("VirtualService ") else "",
            "route_name": str(rec.raw.get("name", "")),
        })
    return items


def listener_rows(dump: ConfigDump) -> list[dict[str, Any]]:
    items = []
    for rec in dump.listeners():
        chains = rec.chains or []
        if not chains:
            items.append({"name": rec.name, "address": rec.address, "port": rec.port,
                          "state": rec.state, "direction": rec.direction, "type": "",
                          "chain_match": "", "chain_port": None, "mtls": "", "destination": "",
                          "error": rec.error})
        for chain in chains:
            match = chain.match
            bits = []
            if "destination_port" in match:
                bits.append(f"port={match['destination_port']}")
            if match.get("transport_protocol"):
                bits.append(f"transport={match['transport_protocol']}")
            if match.get("application_protocols"):
                bits.append("alpn=" + ",".join(match["application_protocols"]))
            if match.get("server_names"):
                bits.append("sni=" + ",".join(match["server_names"]))
            kind = ("HTTP" if "envoy.filters.network.http_connection_manager" in chain.filters
                    else "TCP" if "envoy.filters.network.tcp_proxy" in chain.filters else "")
            dest = (f"route: {chain.route_config}" if chain.route_config else
                    "inline routes" if chain.inline_routes else
                    f"cluster: {chain.tcp_cluster}" if chain.tcp_cluster else
                    ",".join(f for f in chain.filters if f))
            items.append({
                "name": rec.name, "address": rec.address, "port": rec.port,
                "state": rec.state, "direction": rec.direction,
                "chain": chain.name, "chain_match": " ".join(bits) or "all",
                "chain_port": match.get("destination_port"), "type": kind,
                "mtls": "mutual (client cert)" if chain.tls_client_cert_required else
                "tls" if chain.tls_required else "none",
                "tls_required": chain.tls_required,
                "client_cert_required": chain.tls_client_cert_required,
                "destination": dest, "route_config": chain.route_config,
                "tcp_cluster": chain.tcp_cluster, "filters": chain.filters, "error": rec.error,
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
                "cx_connect_fail": host.stats.get("cx_connect_fail", 0),
                "success_rate": host.success_rate,
                "pod": pod, "pod_readiness": readiness,
            })
    return items


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
    return items
