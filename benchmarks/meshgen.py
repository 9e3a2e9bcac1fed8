"""Istio-shaped configuration for N services, loaded into a real Envoy for the scale runs.

Clusters are delivered by file CDS (so the dump has `dynamic_active_clusters` like a real
sidecar) with inline endpoints (one inotify watch in all, see ENVOY_LAB gotcha 2); routes
by file RDS: one route config `8000` with a virtual host of Istio's ten domains per service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubectl_meshdebug.lab import xds
from kubectl_meshdebug.lab.envoyproc import EnvoyProcess


def service(i: int) -> tuple[str, str, str]:
    name, ns = f"svc{i}", f"ns{i % 50}"
    return name, ns, f"{name}.{ns}.svc.cluster.local"


def cluster(i: int) -> dict[str, Any]:
    name, ns, fqdn = service(i)
    cname = f"outbound|8000||{fqdn}"
    sni = f"outbound_.8000_._.{fqdn}"
    return {
        "name": cname, "type": "STATIC", "connect_timeout": "10s", "lb_policy": "LEAST_REQUEST",
        "load_assignment": {"cluster_name": cname, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {
                "address": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
                "port_value": 8080}}},
             "metadata": {"filter_metadata": {"envoy.transport_socket_match": {
                 "tlsMode": "istio"}}}}]}]},
        "transport_socket_matches": xds.auto_mtls_matches(
            sni, f"spiffe://cluster.local/ns/{ns}/sa/default"),
        "metadata": xds.istio_metadata(None, [{"host": fqdn, "name": name, "namespace": ns}]),
        "circuit_breakers": {"thresholds": [{"max_connections": 4294967295,
                                             "max_pending_requests": 4294967295,
                                             "max_requests": 4294967295,
                                             "max_retries": 4294967295}]},
    }


def vhost(i: int) -> dict[str, Any]:
    name, ns, fqdn = service(i)
    return {"name": f"{fqdn}:8000",
            "domains": xds.service_domains(name, ns, 8000, f"10.96.{(i >> 8) & 255}.{i & 255}"),
            "routes": [{"match": {"prefix": "/"}, "name": "default", "route": {
                "cluster": f"outbound|8000||{fqdn}", "timeout": "0s",
                "retry_policy": xds.ISTIO_RETRY, "max_grpc_timeout": "0s"}}]}


def start_envoy(n: int, workdir: Path, address: str = "127.0.0.77") -> EnvoyProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    write = lambda name, doc: _write(workdir / name, doc)  # noqa: E731
    cds = write("cds.json", xds.discovery_response(
        "envoy.config.cluster.v3.Cluster", [cluster(i) for i in range(n)], "cds-1"))
    rds = write("rds.json", xds.discovery_response(
        "envoy.config.route.v3.RouteConfiguration",
        [{"name": "8000", "virtual_hosts": [vhost(i) for i in range(n)],
          "validate_clusters": False}], "rds-1"))
    lds = write("lds.json", xds.discovery_response(
        "envoy.config.listener.v3.Listener", [xds.outbound_listener(8000, address, rds)],
        "lds-1"))
    boot = xds.bootstrap(f"sidecar~{address}~client.bench~bench.svc.cluster.local",
                         (address, 15000), {"cds": cds, "lds": lds})
    envoy = EnvoyProcess("client", workdir, boot, (address, 15000))
    envoy.start(wait=600)
    return envoy


def _write(path: Path, doc: dict[str, Any]) -> Path:
    import json

    path.write_text(json.dumps(doc))
    return path
