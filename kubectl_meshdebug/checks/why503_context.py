"""What the why-503 checks read: the client's and servers' proxies, the target, the mesh.

Derived facts (the route the call takes, its clusters, the access-log lines of this call)
are computed once here so that checks stay short and agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from kubectl_meshdebug.checks.proxyview import ProxyView
from kubectl_meshdebug.checks.target import CallTarget
from kubectl_meshdebug.envoy.accesslog import AccessLogEntry
from kubectl_meshdebug.envoy.config_dump import ClusterRecord, FilterChainInfo, RouteRecord
from kubectl_meshdebug.envoy.flags import FLAGS
from kubectl_meshdebug.kube.state import ClusterState, labels, meta
from kubectl_meshdebug.kube.targets import is_ready, proxy_container, service_pods
from kubectl_meshdebug.mesh import policy
from kubectl_meshdebug.mesh.correlate import MeshContext
from kubectl_meshdebug.mesh.hosts import vhost_matches
from kubectl_meshdebug.mesh.names import outbound_cluster, parse_cluster_name

Obj = dict[str, Any]


def entry_text(e: AccessLogEntry) -> str:
    """An access-log line for evidence, its flags spelled out."""
    flags = ",".join(f"{f}={FLAGS[f].name}" if f in FLAGS else f for f in e.flags) or "-"
    parts = [str(e.status), flags, e.details or "", e.transport_failure or ""]
    return " ".join(p for p in parts if p)


@dataclass
class Why503Context:
    target: CallTarget
    client: ProxyView
    servers: list[ProxyView]
    state: ClusterState | None
    mesh: MeshContext | None
    checked: list[str] = field(default_factory=list)

    # the route ------------------------------------------------------------------------
    @cached_property
    def route_config_names(self) -> list[str]:
        """Route configs the call's port can use: `PORT`, and `HOST:PORT` for some Istio."""
        return [str(self.target.port), f"{self.target.host}:{self.target.port}"]

    @cached_property
    def route_configs_present(self) -> list[str]:
        if self.client.dump is None:
            return []
        return [cfg.get("name", "") for cfg, _ in self.client.dump.route_configs()]

    @cached_property
    def listener_chains(self) -> list[tuple[str, FilterChainInfo]]:
        """Outbound listener chains for the port: `0.0.0.0_PORT` or `IP_PORT`."""
        if self.client.dump is None:
            return []
        out = []
        for listener in self.client.dump.listeners():
            if listener.name.endswith(f"_{self.target.port}") or listener.port == \
                    self.target.port and listener.direction != "INBOUND":
                out += [(listener.name, c) for c in listener.chains]
        return out

    @cached_property
    def routes_for_port(self) -> list[RouteRecord]:
        if self.client.dump is None:
            return []
        return [r for r in self.client.dump.routes() if r.route_config in
                self.route_config_names]

    @cached_property
    def matched_route(self) -> RouteRecord | None:
        """The first route of the first virtual host that answers the call's Host."""
        host_forms = [self.target.host, f"{self.target.host}:{self.target.port}"]
        for route in self.routes_for_port:
            if any(vhost_matches(route.domains, h) for h in host_forms):
                return route
        return None

    @cached_property
    def target_clusters(self) -> list[str]:
        route = self.matched_route
        if route is not None and route.clusters:
            return [c for c, _ in route.clusters]
        return [outbound_cluster(self.target.port, self.target.host)]

    def cluster(self, name: str) -> ClusterRecord | None:
        return self.client.cluster(name)

    def host_count(self, name: str) -> tuple[int, int] | None:
        status = (self.client.statuses or {}).get(name)
        if status is None:
            return None
        return status.healthy_count, len(status.hosts)

    # logs -------------------------------------------------------------------------------
    @cached_property
    def call_entries(self) -> list[AccessLogEntry]:
        """The client's access-log lines for this call (by cluster or Host), newest last."""
        fqdn = self.target.host
        short = fqdn.split(".")[0]
        out = []
        for entry in self.client.log_entries:
            cluster_hit = entry.upstream_cluster and fqdn in entry.upstream_cluster
            authority = entry.authority.split(":")[0]
            host_hit = authority in (fqdn, short) or (authority.startswith(short + ".")
                                                      and fqdn.startswith(authority))
            if cluster_hit or host_hit:
                out.append(entry)
        return out

    def failures(self, flag: str | None = None) -> list[AccessLogEntry]:
        bad = [e for e in self.call_entries if e.status >= 500 or e.status == 404]
        if flag:
            bad = [e for e in bad if flag in e.flags]
        return bad

    # mesh -----------------------------------------------------------------------------
    @cached_property
    def server_pods(self) -> list[Obj]:
        if self.state is None or self.target.service is None:
            return []
        return service_pods(self.state, self.target.service)

    @cached_property
    def ready_server_pods(self) -> list[Obj]:
        return [p for p in self.server_pods if is_ready(p)]

    def has_sidecar(self, pod: Obj) -> bool:
        return proxy_container(pod) is not None

    @cached_property
    def destination_rule(self) -> Obj | None:
        if self.mesh is None:
            return None
        return self.mesh.destination_rule(self.target.host)

    @cached_property
    def server_mode(self) -> policy.PeerAuthMode | None:
        if self.mesh is None or self.state is None or not self.server_pods:
            return None
        pod = self.server_pods[0]
        target_port = (self.target.service_port or {}).get("targetPort")
        port = int(target_port) if isinstance(target_port, int) or str(
            target_port).isdigit() else None
        return policy.peer_auth_mode(self.state, self.mesh.mesh, meta(pod).get("namespace", ""),
                                     labels(pod), port)

    def subset_of(self, cluster_name: str) -> str:
        return parse_cluster_name(cluster_name).subset

    def inbound_chains(self, server: ProxyView) -> list[FilterChainInfo]:
        """The server proxy's inbound chains for the Service's target port."""
        if server.dump is None:
            return []
        target_port = (self.target.service_port or {}).get("targetPort", self.target.port)
        chains = []
        for listener in server.dump.listeners():
            if listener.direction == "OUTBOUND" or listener.name.startswith("0.0.0.0_") and \
                    listener.direction != "INBOUND":
                continue
            for chain in listener.chains:
                port = chain.match.get("destination_port")
                if port in (None, target_port) or listener.port == target_port:
                    chains.append(chain)
        return chains
