"""Replay what istiod sent a sidecar (lab/recording.py) into a lab Envoy on loopback.

The resources are istiod's own, delivered through file-based xDS. What changes, and why
(nothing else does):

- Addresses: every address of the real mesh moves into the lab's 127.N.0.0/16 block
  (pods onto their lab addresses, ClusterIPs, istiod and the outside host onto addresses
  of their own), wherever it appears: endpoints, listener names, route domains, node id.
- Config sources: `ads: {}` (RDS, CDS, LDS) and pilot-agent's SDS become files, one per
  resource; EDS is polled from the lab's REST server (lab/restxds.py says why); secrets
  are the lab's certificates for the pod's SPIFFE identity.
- Interception: there is no iptables on loopback, so a listener iptables would reach
  (`bind_to_port: false`) is bound to an address of the proxy's own (`Capture`), where
  the lab's client connects as the redirect would; virtualInbound is also bound at each
  port its chains match, so the chains see the destination port they would.
- Original destinations: with no redirect, a connection carries no original destination.
  An inbound cluster (ORIGINAL_DST in front of the app) becomes a STATIC one to where the
  lab's app listens; Passthrough clusters lead to the lab's one host outside the mesh
  (an HTTPS server on 443, as on the real mesh), whatever address and port were dialled.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_meshdebug.lab.recording import RecordedProxy, map_addresses
from kubectl_meshdebug.lab.restxds import RestXds

T = "type.googleapis.com/"
CERTS = Path(__file__).parent / "certs"
CLOSED = ("127.0.0.1", 9)  # discard: nothing listens there


def privileged(port: int) -> int:
    """Ports below 1024 need root; the lab binds them 10000 higher."""
    return port if port >= 1024 or os.geteuid() == 0 else port + 10000


@dataclass
class Capture:
    """Where a proxy's listeners are bound in the lab: (address, port) of the real mesh
    (0.0.0.0 for a port-wide listener) -> (address, port) the lab's client dials."""
    listeners: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    outbound: tuple[str, int] | None = None  # virtualOutbound

    def target(self, address: str, port: int) -> tuple[str, int] | None:
        """What iptables and virtualOutbound would pick for a call to ADDRESS:PORT: the
        listener for that address and port, else the port-wide one, else virtualOutbound."""
        return (self.listeners.get((address, port)) or self.listeners.get(("0.0.0.0", port))
                or self.outbound)


def cert_files(namespace: str, service_account: str) -> tuple[Path, Path]:
    """The lab's certificate and key for spiffe://cluster.local/ns/NS/sa/SA."""
    stem = CERTS / f"{namespace}.{service_account}"
    return Path(f"{stem}-cert.pem"), Path(f"{stem}-key.pem")


def _file_source(path: Path) -> dict[str, Any]:
    return {"resourceApiVersion": "V3", "pathConfigSource": {"path": str(path)}}


class ProxyFiles:
    """Writes one proxy's xDS files into FOLDER (renames, as Envoy only notices those)."""

    def __init__(self, folder: Path, tag: str) -> None:
        self.folder = folder
        self.tag = tag
        self.count = 0

    def write(self, kind: str, type_url: str, resources: list[dict[str, Any]]) -> Path:
        self.count += 1
        path = self.folder / f"{self.tag}-{kind}-{self.count}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version_info": "recorded", "resources": [
            {"@type": T + type_url, **{k: v for k, v in r.items() if k != "@type"}}
            for r in resources]}))
        os.replace(tmp, path)
        return path


@dataclass
class Replayed:
    bootstrap: dict[str, Any]
    capture: Capture


def replay(proxy: RecordedProxy, mapping: dict[str, str], *, pod_ip: str, local_ip: str,
           capture_ip: str, capture_ips: dict[str, str], folder: Path,
           inline_eds: bool = False, static: bool = False,
           outside: tuple[str, int] = CLOSED, eds: RestXds | None = None) -> Replayed:
    """The bootstrap of a lab Envoy that holds what istiod sent PROXY. POD_IP is the pod's
    lab address (admin, inbound), LOCAL_IP where its app listens, CAPTURE_IP where its
    port-wide outbound listeners are bound, CAPTURE_IPS (lab ClusterIP -> address) where
    its listeners for one ClusterIP are, OUTSIDE where calls that leave the mesh arrive
    (passthrough; by default a closed port), EDS the lab's REST server for endpoints
    (None: one file per EDS cluster). INLINE_EDS (scale runs only): EDS clusters become
    STATIC ones with their endpoints inline, since every EDS file is an inotify instance
    and a user has 128. STATIC (fleets of hundreds of Envoys): everything in the
    bootstrap's static resources, no file watched at all."""
    inline_eds = inline_eds or static
    doc = map_addresses(proxy.to_json(), mapping)
    files = ProxyFiles(folder, proxy.name)
    secrets = _secrets(proxy)
    if static:
        _sds_to_files(doc, {name: None for name in secrets})
    else:
        _sds_to_files(doc, {name: files.write(
            "sds", "envoy.extensions.transport_sockets.tls.v3.Secret", [secret])
            for name, secret in secrets.items()})
    capture = Capture()
    listeners = [_bind(lis, pod_ip, capture_ip, capture_ips, capture)
                 for lis in doc["listeners"]]
    routes = {r["name"]: r for r in doc["routes"]}
    for listener in listeners:
        _rds_to_files(listener, routes, None if static else files)
    endpoints = {e["clusterName"]: e for e in doc["endpoints"]}
    told: dict[str, dict[str, Any]] = {}
    clusters = [_cluster(c, endpoints, files, local_ip, inline_eds, outside,
                         (eds, told) if eds else None) for c in doc["clusters"]]
    if eds is not None:
        eds.add(str(doc["node"].get("id")), told)
    base = {"node": doc["node"], "statsConfig": doc["stats_config"],
            "admin": {"address": {"socketAddress": {"address": pod_ip, "portValue": 15000}}}}
    if static:
        return Replayed(dict(base, staticResources={
            "clusters": [_bare(c) for c in clusters],
            "listeners": [_bare(x) for x in listeners], "secrets": list(secrets.values())}),
            capture)
    cds = files.write("cds", "envoy.config.cluster.v3.Cluster", clusters)
    lds = files.write("lds", "envoy.config.listener.v3.Listener", listeners)
    if eds is not None:
        base["staticResources"] = {"clusters": [eds.cluster()]}
    return Replayed(dict(base, dynamicResources={
        "cdsConfig": _file_source(cds), "ldsConfig": _file_source(lds)}), capture)


def _secrets(proxy: RecordedProxy) -> dict[str, dict[str, Any]]:
    """pilot-agent's two SDS secrets: the workload certificate (`default`) and the root
    (`ROOTCA`), from the lab's certificates for the pod's identity."""
    meta = proxy.node.get("metadata") or {}
    cert, key = cert_files(proxy.namespace, str(meta.get("SERVICE_ACCOUNT") or "default"))
    root = CERTS / "root-cert.pem"

    def inline(path: Path) -> dict[str, str]:
        return {"inlineBytes": base64.b64encode(path.read_bytes()).decode()}

    return {
        "default": {"name": "default", "tlsCertificate": {
            "certificateChain": inline(cert), "privateKey": inline(key)}},
        "ROOTCA": {"name": "ROOTCA", "validationContext": {"trustedCa": inline(root)}},
    }


def _each_dict(node: Any, visit: Any) -> None:
    """VISIT(d) on every dict of a JSON tree; a visit that returns True ends that branch
    (it replaced what was below)."""
    if isinstance(node, dict):
        if visit(node):
            return
        for value in node.values():
            _each_dict(value, visit)
    elif isinstance(node, list):
        for value in node:
            _each_dict(value, visit)


def _sds_to_files(node: Any, secrets: dict[str, Path | None]) -> None:
    """Every SDS reference (`{name, sdsConfig}`) read from the lab's secret files (None:
    from the bootstrap's static secrets)."""
    def visit(d: dict[str, Any]) -> bool:
        if "sdsConfig" in d and d.get("name") in secrets:
            path = secrets[d["name"]]
            if path is None:
                del d["sdsConfig"]
            else:
                d["sdsConfig"] = _file_source(path)
        return False
    _each_dict(node, visit)


def _rds_to_files(node: Any, routes: dict[str, dict[str, Any]],
                  files: ProxyFiles | None) -> None:
    """Every `rds` (a route config over ADS) read from a file holding that route config
    (FILES None: the route config inline)."""
    def visit(d: dict[str, Any]) -> bool:
        rds = d.get("rds")
        if not (isinstance(rds, dict) and "routeConfigName" in rds):
            return False
        name = rds["routeConfigName"]
        config = routes.get(name, {"name": name})
        if files is None:
            del d["rds"]
            d["routeConfig"] = _bare(config)
            return True
        rds["configSource"] = _file_source(files.write(
            "rds", "envoy.config.route.v3.RouteConfiguration", [config]))
        return False
    _each_dict(node, visit)


def _bare(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource without its `@type`: as a field of another message, not an Any."""
    return {k: v for k, v in resource.items() if k != "@type"}


def _socket(address: str, port: int) -> dict[str, Any]:
    return {"socketAddress": {"address": address, "portValue": port}}


def _bind(listener: dict[str, Any], pod_ip: str, capture_ip: str,
          capture_ips: dict[str, str], capture: Capture) -> dict[str, Any]:
    sock = (listener.get("address") or {}).get("socketAddress") or {}
    address, port = sock.get("address", "0.0.0.0"), int(sock.get("portValue") or 0)
    listener.pop("bindToPort", None)
    name = listener.get("name")
    if name == "virtualInbound":
        listener["address"] = _socket(pod_ip, port)
        ports = sorted({int(m["destinationPort"]) for chain in listener.get("filterChains") or []
                        if (m := chain.get("filterChainMatch") or {}).get("destinationPort")
                        and int(m["destinationPort"]) != port})
        listener["additionalAddresses"] = [{"address": _socket(pod_ip, p)} for p in ports]
        return listener
    if name == "virtualOutbound":
        listener["address"] = _socket(pod_ip, port)
        capture.outbound = (pod_ip, port)
        return listener
    bound = (capture_ip if address == "0.0.0.0" else capture_ips.get(address, capture_ip),
             privileged(port))
    listener["address"] = _socket(*bound)
    capture.listeners[(address, port)] = bound
    return listener


def _static(name: str, address: str, port: int) -> dict[str, Any]:
    return {"clusterName": name, "endpoints": [{"lbEndpoints": [
        {"endpoint": {"address": _socket(address, port)}}]}]}


def _cluster(cluster: dict[str, Any], endpoints: dict[str, dict[str, Any]],
             files: ProxyFiles, local_ip: str, inline_eds: bool = False,
             outside: tuple[str, int] = CLOSED,
             rest: tuple[RestXds, dict[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
    name = cluster.get("name", "")
    if cluster.get("type") == "ORIGINAL_DST":
        for key in ("lbPolicy", "cleanupInterval", "originalDstLbConfig"):
            cluster.pop(key, None)
        cluster["type"] = "STATIC"
        parts = name.split("|")
        if parts[0] == "inbound" and len(parts) > 1 and parts[1].isdigit():
            cluster["loadAssignment"] = _static(name, local_ip, int(parts[1]))
        else:
            cluster["loadAssignment"] = _static(name, *outside)
        return cluster
    eds = cluster.get("edsClusterConfig")
    if isinstance(eds, dict):
        service = eds.get("serviceName") or name
        assignment = endpoints.get(service, {"clusterName": service})
        if inline_eds:
            del cluster["edsClusterConfig"]
            cluster["type"] = "STATIC"
            cluster["loadAssignment"] = dict(_bare(assignment), clusterName=name)
            return cluster
        if rest is not None:
            rest[1][service] = assignment
            eds["edsConfig"] = rest[0].config_source()
            return cluster
        eds["edsConfig"] = _file_source(files.write(
            "eds", "envoy.config.endpoint.v3.ClusterLoadAssignment", [assignment]))
    return cluster
