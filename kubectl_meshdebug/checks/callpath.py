"""The request path of one call, hop by hop, as the proxies hold it, with the break marked.

istioctl prints listeners, routes, clusters and endpoints as separate tables and leaves
the joining to the reader. Here the same Why503Context the checks read is walked in the
order a request travels: client sidecar, outbound listener, route, cluster, endpoints,
server sidecar, application. Each hop says what the proxy really holds and gets a mark:

- `ok`: the proxy holds what the call needs and nothing contradicts it;
- `broken`: a finding (its id on the hop) or the proxy's own state shows the call fails
  here;
- `unknown`: what would tell was not read (no server sidecar read, no counters, no logs).

Findings are placed on the hop they are about (HOP_OF), so the picture and the report
agree: `broken` is the hop the first finding names (the cause the others follow from,
which may lie past hops its effects broke). Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.checks.finding import Finding
from kubectl_meshdebug.checks.paths import declared_by_service_entry
from kubectl_meshdebug.checks.why503_context import CATCH_ALL_VHOSTS, Why503Context
from kubectl_meshdebug.envoy.config_dump import FilterChainInfo
from kubectl_meshdebug.kube.state import full_name
from kubectl_meshdebug.mesh import inbound
from kubectl_meshdebug.mesh.correlate import owning_config
from kubectl_meshdebug.mesh.names import parse_cluster_name

HOPS = ("client", "listener", "route", "cluster", "endpoints", "server", "app")

# The hop each finding is about. A finding about a pod (proxy-not-ready,
# proxy-config-rejected, sidecar-missing) goes to the client or the server hop by its
# resource.
HOP_OF: dict[str, str] = {
    "proxy-not-ready": "client",
    "proxy-config-rejected": "client",
    "sidecar-missing": "client",
    "port-protocol-mismatch": "listener",
    "protocol-conflict": "listener",
    "sidecar-egress-hides-host": "route",
    "route-not-found": "route",
    "route-timeout": "route",
    "cluster-not-found": "cluster",
    "service-not-found": "cluster",
    "egress-blocked": "cluster",
    "vs-subset-undefined": "cluster",
    "dr-tls-overrides-mtls": "cluster",
    "tls-mode-mismatch": "cluster",
    "circuit-breaker-overflow": "cluster",
    "no-endpoints": "endpoints",
    "subset-no-pods": "endpoints",
    "outlier-ejected": "endpoints",
    "peerauth-strict-plaintext-client": "server",
    "upstream-connect-failure": "server",
    "authz-denied": "server",
    # about a pod's certificates: the client hop, or the server's (by the finding's Pod)
    "cert-missing": "client", "cert-expired": "client", "cert-not-rotated": "client",
    "cert-identity-mismatch": "client", "root-ca-mismatch": "client",
    "jwt-rejected": "server",
    "target-port-not-listening": "app",
    "upstream-protocol-error": "app",
    "http2-port-http1-app": "app",
    "app-resets-connection": "app",
}
# Hops that belong to one branch of a weighted route (one per cluster).
BRANCH_HOPS = ("cluster", "endpoints", "server", "app")


@dataclass
class Hop:
    hop: str  # one of HOPS
    name: str  # what the proxy holds: a listener, route, cluster or pod name
    facts: dict[str, Any] = field(default_factory=dict)
    mark: str = "unknown"
    why: str = ""  # what the proxy shows at this hop, in a few words
    finding: str = ""  # the id of the finding about this hop (why-503 has its evidence)

    def to_dict(self) -> dict[str, Any]:
        return {"hop": self.hop, "name": self.name, "mark": self.mark, "why": self.why,
                "finding": self.finding or None, "facts": self.facts}


@dataclass
class Branch:
    cluster: str
    weight: int | None
    hops: list[Hop]

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "weight": self.weight,
                "hops": [h.to_dict() for h in self.hops]}


@dataclass
class CallPath:
    client: str
    target: str
    hops: list[Hop]  # client, listener, route
    branches: list[Branch]  # one per cluster the route sends to
    root: str = ""  # the first finding's id: the cause the others follow from

    def all_hops(self) -> list[Hop]:
        return self.hops + [h for b in self.branches for h in b.hops]

    @property
    def first_broken(self) -> Hop | None:
        """Where the call breaks: the hop of the cause the other findings follow from (a
        targetPort nobody listens on, behind endpoints that outlier detection emptied
        because of it), else the first broken hop in travel order (branches side by
        side)."""
        for hop in self.all_hops():
            if self.root and hop.finding == self.root and hop.mark == "broken":
                return hop
        for name in HOPS:
            for hop in self.all_hops():
                if hop.hop == name and hop.mark == "broken":
                    return hop
        return None

    def to_dict(self) -> dict[str, Any]:
        broken = self.first_broken
        return {"client": self.client, "target": self.target,
                "hops": [h.to_dict() for h in self.hops],
                "branches": [b.to_dict() for b in self.branches],
                "broken": None if broken is None else
                {"hop": broken.hop, "name": broken.name, "finding": broken.finding or None}}


def build_path(ctx: Why503Context, findings: list[Finding]) -> CallPath:
    hops = [_client_hop(ctx)]
    if ctx.client.reachable:
        hops += [_listener_hop(ctx), _route_hop(ctx)]
    branches = [Branch(cluster, weight, _branch_hops(ctx, cluster))
                for cluster, weight in _clusters_of_route(ctx)]
    path = CallPath(ctx.client.label, ctx.target.label, hops, branches,
                    root=findings[0].id if findings and findings[0].explains else "")
    _place_findings(path, ctx, findings)
    return path


# -- hops ---------------------------------------------------------------------------------

def _client_hop(ctx: Why503Context) -> Hop:
    view = ctx.client
    hop = Hop("client", view.label)
    if view.pod is not None and not ctx.has_sidecar(view.pod):
        hop.facts = {"sidecar": False}
        hop.mark, hop.why = "ok", "no sidecar: the call leaves the pod in plaintext, " \
            "straight to the endpoints"
        return hop
    if not view.reachable:
        hop.facts = {"sidecar": None}
        hop.why = "its proxy could not be read"
        return hop
    ready = view.ready
    rejected = {k.split(".")[1]: v for k, v in view.stats.items()
                if k.endswith(".update_rejected") and isinstance(v, int) and v > 0}
    hop.facts = {"sidecar": True, "ready": None if ready is None else ready[0],
                 "rejected_updates": rejected}
    if ready is not None and not ready[0]:
        hop.mark, hop.why = "broken", f"proxy not ready: {ready[1]}"
    elif rejected:
        hop.mark, hop.why = "broken", "rejected config: " + ", ".join(
            f"{k} {v}x" for k, v in sorted(rejected.items()))
    else:
        hop.mark, hop.why = "ok", ("gateway" if ctx.is_gateway else "sidecar") + \
            " running, config accepted"
    return hop


def _protocol(chain: FilterChainInfo) -> str:
    return chain.protocol or "other"


def _egress_cluster(ctx: Why503Context) -> str | None:
    """Where a call to a host outside the mesh that no ServiceEntry declares goes, as the
    mesh config decides: PassthroughCluster (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY).
    None when that is not the case or the mesh config was not read."""
    if not ctx.target.external or ctx.mesh is None or ctx.state is None or \
            ctx.matched_route is not None or declared_by_service_entry(ctx, ctx.target.host):
        return None
    return ("BlackHoleCluster" if ctx.mesh.mesh.outbound_policy == "REGISTRY_ONLY"
            else "PassthroughCluster")


def _listener_hop(ctx: Why503Context) -> Hop:
    chains = ctx.listener_chains
    if not chains:
        hop = Hop("listener", f"no listener for port {ctx.target.port}")
        hop.facts = {"port": ctx.target.port, "chains": []}
        egress = _egress_cluster(ctx)
        if egress is not None:
            hop.name = "virtualOutbound"
            hop.mark = "ok"
            hop.why = f"no listener for port {ctx.target.port}: virtualOutbound takes it"
            return hop
        hop.mark = "unknown"
        hop.why = "the call falls to virtualOutbound (passthrough or blocked by policy)"
        return hop
    name = chains[0][0]
    listener = next((x for x in ctx.client.listeners() if x.name == name), None)
    protocols = sorted({_protocol(c) for _, c in chains})
    sniffing = any(c.match.get("application_protocols") for _, c in chains) and \
        len(protocols) > 1
    described = [{"chain": c.name or "-", "protocol": _protocol(c),
                  "route_config": c.route_config or None, "tcp_cluster": c.tcp_cluster or None}
                 for _, c in chains]
    hop = Hop("listener", name)
    hop.facts = {"address": listener.address if listener else "",
                 "port": listener.port if listener else ctx.target.port,
                 "protocols": protocols, "sniffing": sniffing, "chains": described}
    hop.mark, hop.why = "ok", "/".join(protocols) + (" (protocol sniffing)" if sniffing else "")
    return hop


def _route_hop(ctx: Why503Context) -> Hop:
    if ctx.tcp_path:
        hop = Hop("route", "tcp_proxy", {"tcp": True})
        hop.mark, hop.why = "ok", "TCP: no routes, straight to the cluster"
        return hop
    route = ctx.matched_route or ctx.catch_all_route
    if route is None:
        present = any(n in ctx.route_configs_present for n in ctx.route_config_names)
        hop = Hop("route", "no route", {"route_configs": ctx.route_config_names})
        if not present and _egress_cluster(ctx) is not None:
            hop.mark, hop.why = "ok", "none on this port: the call is passed on as TCP"
        elif present:
            hop.mark, hop.why = "broken", "no virtual host answers the host"
        else:
            hop.mark, hop.why = "unknown", "no route config for the port was read"
        return hop
    action = route.raw.get("route") if isinstance(route.raw.get("route"), dict) else {}
    retries = action.get("retry_policy") if isinstance(action.get("retry_policy"), dict) else {}
    facts: dict[str, Any] = {
        "route_config": route.route_config, "virtual_host": route.virtual_host,
        "match": route.match, "action": route.action,
        "clusters": [{"name": c, "weight": w} for c, w in route.clusters],
        "virtual_service": owning_config(route.istio) or None,
        "timeout": action.get("timeout"),
        "retries": retries.get("num_retries") if retries else None,
        "catch_all": route.virtual_host in CATCH_ALL_VHOSTS or route.domains == ["*"],
    }
    hop = Hop("route", f"{route.route_config} / {route.virtual_host} / {route.match}", facts)
    if route is ctx.matched_route:
        hop.mark, hop.why = "ok", f"virtual host {route.virtual_host} answers the host"
    elif route.action.startswith("direct") or route.virtual_host == "block_all":
        hop.mark, hop.why = "broken", "caught by block_all: REGISTRY_ONLY answers 502"
    elif ctx.target.external:
        hop.mark, hop.why = "ok", "caught by the catch-all: passthrough out of the mesh"
    else:
        hop.mark = "unknown"
        hop.why = "no virtual host names the host: the catch-all passes it through"
    return hop


def _clusters_of_route(ctx: Why503Context) -> list[tuple[str, int | None]]:
    route = ctx.matched_route or ctx.catch_all_route
    if not ctx.client.reachable:
        return [(ctx.target_clusters[0], None)]
    if ctx.tcp_path:
        return [(ctx.target_clusters[0], None)]
    if route is not None and route.clusters:
        return list(route.clusters)
    egress = _egress_cluster(ctx) if route is None else None
    if egress is not None:
        return [(egress, None)]
    return [] if route is not None else [(ctx.target_clusters[0], None)]


def _branch_hops(ctx: Why503Context, cluster: str) -> list[Hop]:
    return [_cluster_hop(ctx, cluster), _endpoints_hop(ctx, cluster), _server_hop(ctx, cluster),
            _app_hop(ctx, cluster)]


def _cluster_hop(ctx: Why503Context, name: str) -> Hop:
    hop = Hop("cluster", name)
    if not ctx.client.reachable:
        hop.facts = {"present": None}
        hop.why = "no client sidecar: no cluster" if ctx.client.pod is not None and \
            not ctx.has_sidecar(ctx.client.pod) else "the client's proxy was not read"
        hop.mark = "ok" if hop.why.startswith("no client sidecar") else "unknown"
        return hop
    record = ctx.cluster(name)
    parsed = parse_cluster_name(name)
    if name in ("BlackHoleCluster", "PassthroughCluster"):
        hop.facts = {"present": record is not None, "subset": None}
        if name == "BlackHoleCluster":
            hop.mark, hop.why = "broken", "REGISTRY_ONLY: the call is dropped (TCP reset, 502)"
        else:
            hop.mark, hop.why = "ok", "ALLOW_ANY: out of the mesh to the address dialled"
        return hop
    if record is None:
        hop.facts = {"present": False, "subset": parsed.subset or None}
        if name == "InboundPassthroughCluster":
            hop.mark, hop.why = "ok", "Envoy's own cluster"
        else:
            hop.mark, hop.why = "broken", "the proxy has no such cluster"
        return hop
    breakers = {k: v for k, v in record.circuit_breakers.items() if isinstance(v, int)}
    hop.facts = {
        "present": True, "subset": parsed.subset or None,
        "tls": record.tls.mode, "sni": record.tls.sni or None,
        "destination_rule": owning_config(record.istio) or None,
        "circuit_breakers": breakers, "outlier_detection": bool(record.outlier),
    }
    hop.mark = "ok"
    hop.why = f"TLS {record.tls.mode}" + (f" ({record.tls.detail})" if record.tls.detail else "")
    return hop


def _pod_name(ctx: Why503Context, address: str) -> str | None:
    if ctx.mesh is None:
        return None
    pod = ctx.mesh.pods_by_ip.get(address)
    return None if pod is None else full_name(pod)


def _endpoints_hop(ctx: Why503Context, cluster: str) -> Hop:
    hop = Hop("endpoints", cluster)
    if cluster in ("PassthroughCluster", "BlackHoleCluster"):
        # ORIGINAL_DST and STATIC-without-hosts: never EDS endpoints, by design
        hop.facts = {"hosts": []}
        if cluster == "PassthroughCluster":
            hop.name = f"{ctx.target.host}:{ctx.target.port}"
            hop.mark, hop.why = "ok", "original destination: whatever the app's DNS gave"
        else:
            hop.name, hop.mark, hop.why = "-", "broken", "none: the black hole has no hosts"
        return hop
    statuses = ctx.client.statuses if ctx.client.reachable else None
    status = (statuses or {}).get(cluster)
    if status is None:
        if ctx.client.reachable and statuses is not None and ctx.cluster(cluster) is not None:
            hop.mark, hop.why = "broken", "the cluster has no endpoints"
            hop.facts = {"hosts": [], "healthy": 0}
        else:
            hop.why = "the client's /clusters was not read" if ctx.client.reachable else \
                "no client sidecar: endpoints are the Service's pods"
            pods = [full_name(p) for p in ctx.server_pods]
            hop.facts = {"hosts": [], "pods": pods}
            if not ctx.client.reachable and pods:
                hop.mark = "ok"
            elif not ctx.client.reachable and ctx.state is not None and \
                    ctx.target.service is not None:
                hop.mark, hop.why = "broken", "the Service selects no ready pod"
        return hop
    hosts = [{"address": h.address, "port": h.port, "pod": _pod_name(ctx, h.address),
              "health": h.health_text, "healthy": h.healthy, "locality": h.locality or None,
              "ejected": "failed_outlier_check" in h.flags}
             for h in status.hosts]
    hop.facts = {"hosts": hosts, "healthy": status.healthy_count}
    hop.name = f"{status.healthy_count}/{len(status.hosts)} healthy"
    if not status.hosts:
        hop.mark, hop.why = "broken", "the cluster has no endpoints"
    elif status.healthy_count == 0:
        hop.mark, hop.why = "broken", "no healthy host"
    else:
        hop.mark, hop.why = "ok", ", ".join(
            f"{h['pod'] or h['address']} {h['health']}" for h in hosts[:4])
    return hop


def _subset_pods(ctx: Why503Context, cluster: str) -> set[str] | None:
    """namespace/name of the running pods a subset cluster reaches (None: not a subset, or
    nothing known of its DestinationRule)."""
    subset = parse_cluster_name(cluster).subset
    if not subset or ctx.mesh is None or ctx.destination_rule is None:
        return None
    info = ctx.mesh.subset(ctx.destination_rule, ctx.target.host, subset)
    if info is None or not info.labels:
        return None
    namespace = ctx.mesh.service_namespace(ctx.target.host) or ctx.target.namespace
    return {f"{namespace}/{name}" for name in info.pods}


def _server_hop(ctx: Why503Context, cluster: str) -> Hop:
    subset_pods = _subset_pods(ctx, cluster)
    servers = [v for v in ctx.servers if subset_pods is None or v.label in subset_pods]
    hop = Hop("server", ", ".join(v.label for v in servers) or "-")
    if ctx.target.external:
        hop.name, hop.mark, hop.why = ctx.target.host, "ok", "outside the mesh: no sidecar"
        return hop
    if subset_pods is not None and not subset_pods:
        subset = parse_cluster_name(cluster).subset
        hop.name, hop.why = f"no pod of subset {subset}", f"subset {subset} selects no running pod"
        hop.facts = {"target_port": ctx.target_port, "subset_pods": []}
        return hop
    read = [v for v in servers if v.reachable]
    without = [p for p in ctx.server_pods if not ctx.has_sidecar(p)]
    mode = ctx.server_mode
    peer_auth = {"mode": mode.mode, "source": mode.source} if mode is not None else None
    if not read:
        hop.facts = {"target_port": ctx.target_port, "peer_authentication": peer_auth,
                     "sidecars": not without if ctx.server_pods else None}
        if without and len(without) == len(ctx.server_pods):
            hop.name = ", ".join(full_name(p)
                                 for p in without)
            hop.mark, hop.why = "ok", "no sidecar: outside the mesh, plaintext only"
        else:
            hop.why = "no server sidecar was read"
        return hop
    chains = {v.label: ctx.inbound_chains(v) for v in read}
    requirement = {label: inbound.requirement(c) for label, c in chains.items()}
    hop.facts = {
        "target_port": ctx.target_port, "peer_authentication": peer_auth,
        "inbound": {label: {"listener": c[0].listener if c else None,
                            "chain": c[0].chain.name if c else None,
                            "accepts": requirement[label]} for label, c in chains.items()},
    }
    missing = [label for label, c in chains.items() if not c]
    if missing:
        hop.mark = "broken"
        hop.why = f"no inbound chain for port {ctx.target_port} on " + ", ".join(missing)
    else:
        hop.mark = "ok"
        hop.why = "inbound accepts " + ", ".join(sorted({str(r) for r in requirement.values()}))
    return hop


def _app_hop(ctx: Why503Context, cluster: str) -> Hop:
    """The app behind this branch only: the inbound counters of the servers of the branch's
    subset (a v2 branch with no pods must not show v1's answers)."""
    hop = Hop("app", f"port {ctx.target_port}" if ctx.target_port else ctx.target.label)
    subset_pods = _subset_pods(ctx, cluster)
    if subset_pods is not None and not subset_pods:
        subset = parse_cluster_name(cluster).subset
        hop.name, hop.why = "-", f"no app: subset {subset} selects no running pod"
        hop.facts = {"inbound_counters": None, "client_log_status": None}
        return hop
    answered: dict[str, int] = {}
    for view in ctx.servers:
        if subset_pods is not None and view.label not in subset_pods:
            continue
        for name, status in (view.statuses or {}).items() if view.reachable else ():
            parsed = parse_cluster_name(name)
            if parsed.direction == "inbound" and parsed.port in (ctx.target_port, None):
                for h in status.hosts:
                    for key in ("rq_success", "rq_error", "cx_connect_fail"):
                        if isinstance(h.stats.get(key), int):
                            answered[key] = answered.get(key, 0) + h.stats[key]
    codes: dict[str, int] = {}
    for entry in ctx.call_entries:
        if entry.upstream_cluster in (cluster, "", "-"):
            codes[str(entry.status)] = codes.get(str(entry.status), 0) + 1
    hop.facts = {"inbound_counters": answered or None, "client_log_status": codes or None}
    ok_calls = sum(n for c, n in codes.items() if c.startswith(("2", "3")))
    if answered.get("rq_success") or ok_calls:
        hop.mark = "ok"
        hop.why = ", ".join(
            ([f"{answered['rq_success']} answered through the server sidecar"]
             if answered.get("rq_success") else []) +
            ([f"{ok_calls} successful calls in the client log"] if ok_calls else []))
    elif ctx.target.external and ctx.client.reachable:
        hop.why = "outside the mesh: only the access log would tell"
    else:
        hop.why = "nothing read shows the app answering"
    return hop


# -- findings onto hops --------------------------------------------------------------------

def hop_of(finding: Finding, ctx: Why503Context) -> str:
    hop = HOP_OF.get(finding.id, "")
    if hop == "client" and finding.resource.startswith("Pod ") and \
            finding.resource[4:] != ctx.client.label:
        return "server"
    return hop


def _branches_named(path: CallPath, finding: Finding) -> list[Branch]:
    text = " ".join([finding.summary] + [e.detail for e in finding.evidence])
    named = [b for b in path.branches if b.cluster in text or (
        parse_cluster_name(b.cluster).subset and
        f"subset {parse_cluster_name(b.cluster).subset}" in text)]
    return named or path.branches


def _place_findings(path: CallPath, ctx: Why503Context, findings: list[Finding]) -> None:
    """Each error or warning marks the hop it is about (the first finding wins a hop): an
    error breaks it, a warning makes it doubtful (`?`), as why-503's exit code does."""
    for finding in findings:
        if finding.severity == "info" and finding.id != "sidecar-missing":
            continue
        name = hop_of(finding, ctx)
        if not name:
            continue
        if name in BRANCH_HOPS:
            targets = [h for b in _branches_named(path, finding) for h in b.hops if h.hop == name]
        else:
            targets = [h for h in path.hops if h.hop == name]
        for hop in targets:
            if hop.finding:
                continue
            hop.finding = finding.id
            if finding.severity == "error":
                hop.mark = "broken"
            elif finding.severity == "warning" and hop.mark == "ok":
                hop.mark = "unknown"  # may matter for this call; a call it breaks is an error
