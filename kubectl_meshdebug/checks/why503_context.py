"""What the why-503 checks read: the client's and servers' proxies, the target, the mesh.

Derived facts (the listener and route the call takes, its clusters, the access-log lines
of this call) are computed once here so that checks stay short and agree with each other.
Nothing here does I/O: the proxy views were collected before, and the state is read
lazily through whatever the runner hands in (a recording one in the declaration tests).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from kubectl_meshdebug.envoy.accesslog import AccessLogEntry
from kubectl_meshdebug.envoy.config_dump import ClusterRecord, FilterChainInfo, RouteRecord
from kubectl_meshdebug.envoy.flags import FLAGS
from kubectl_meshdebug.envoy.proxyview import ProxyView
from kubectl_meshdebug.kube.state import labels, meta
from kubectl_meshdebug.kube.targets import is_ready, proxy_container, service_pods
from kubectl_meshdebug.mesh import inbound, policy
from kubectl_meshdebug.mesh.correlate import MeshContext
from kubectl_meshdebug.mesh.hosts import vhost_matches
from kubectl_meshdebug.mesh.names import outbound_cluster, parse_cluster_name
from kubectl_meshdebug.mesh.target import CallTarget
from kubectl_meshdebug.numbers import port_number

Obj = dict[str, Any]
# Catch-all virtual hosts istiod adds to every outbound route config.
CATCH_ALL_VHOSTS = ("allow_any", "block_all")


def entry_text(e: AccessLogEntry) -> str:
    """An access-log line for evidence, its flags spelled out."""
    flags = ",".join(f"{f}={FLAGS[f].name}" if f in FLAGS else f for f in e.flags) or "-"
    parts = [str(e.status), flags, e.details or "", e.transport_failure or ""]
    text = " ".join(p for p in parts if p)
    if e.upstream_host:
        text += f" {e.upstream_host}"
    return text


def _gateway_route_config(name: str) -> bool:
    """Istio's gateway route config names: `http.PORT`, `https.PORT.SERVER.GATEWAY.NS`."""
    head, _, rest = name.partition(".")
    return head in ("http", "https") and rest[:1].isdigit()


def _sends_to(cluster: str, host: str, port: int) -> bool:
    parsed = parse_cluster_name(cluster)
    return parsed.direction == "outbound" and parsed.fqdn == host and parsed.port == port


class Why503Context:
    def __init__(self, target: CallTarget, client: ProxyView, servers: list[ProxyView],
                 state: Any, mesh: MeshContext | None) -> None:
        self.target = target
        self.client = client
        self.servers = servers
        self.state = state
        self.mesh = mesh
        self.checked: list[str] = []

    # the listener and route -------------------------------------------------------------
    @cached_property
    def is_gateway(self) -> bool:
        """The client is a gateway (router): its routes live in the route configs of its
        Gateway servers (`http.8080`, `https.443.https.NAME.NS`), which istiod never gives
        a sidecar (its route configs are named by port, `8080` or `HOST:PORT`)."""
        if not self.client.reachable:
            return False
        return any(_gateway_route_config(n) for n in self.route_configs_present)

    @cached_property
    def route_config_names(self) -> list[str]:
        """Route configs the call's port can use: `PORT`, and `HOST:PORT` for some Istio;
        a gateway's are its servers' (`http.PORT`), whatever the Service's port."""
        if self.is_gateway:
            return sorted(n for n in self.route_configs_present if _gateway_route_config(n))
        return [str(self.target.port), f"{self.target.host}:{self.target.port}"]

    @cached_property
    def route_configs_present(self) -> set[str]:
        return self.client.route_config_names()

    @cached_property
    def listener_chains(self) -> list[tuple[str, FilterChainInfo]]:
        """The outbound listener chains a call to the target reaches: its Service's
        `CLUSTER_IP_PORT` listener (TCP services get one per ClusterIP), else
        `0.0.0.0_PORT`."""
        if self.is_gateway:  # the listeners of the server whose routes send to the target
            wanted = {self.matched_route.route_config} if self.matched_route else set(
                self.route_config_names)
            return [(listener.name, c) for listener in self.client.listeners()
                    for c in listener.chains if c.route_config in wanted]
        port = self.target.port
        ip = str(((self.target.service or {}).get("spec") or {}).get("clusterIP") or "")
        wanted = outbound_cluster(port, self.target.host)
        route_name = f"{self.target.host}:{port}"  # older Istio: one route config per service
        wide, own, other = [], [], []
        for listener in self.client.listeners():
            if listener.direction == "INBOUND" or listener.name in ("virtualInbound",
                                                                    "virtualOutbound"):
                continue
            # istiod names outbound listeners ADDRESS_PORT; the name says what iptables'
            # original destination selects even where the socket is bound elsewhere
            named, _, named_port = listener.name.rpartition("_")
            if named_port != str(port) and listener.port != port:
                continue
            chains = [(listener.name, c) for c in listener.chains]
            serves = any(wanted in c.tcp_cluster.split(",") or c.route_config == route_name
                         for c in listener.chains)
            if named in ("0.0.0.0", "[::]", "::"):
                wide += chains
            elif (ip and ip != "None" and named == ip) or serves:
                own += chains
            else:
                other += chains
        # as virtualOutbound dispatches on the original destination: the Service's own
        # ClusterIP listener, else the port-wide one; a listener for another ClusterIP on
        # the same port never sees this call; a headless Service's calls go to its pods'
        # own IP_PORT listeners
        headless = bool(self.target.service) and ip in ("", "None")
        return own or wide or (other if headless else [])

    @cached_property
    def has_outbound_listener(self) -> bool:
        return bool(self.listener_chains)

    @cached_property
    def tcp_path(self) -> bool:
        """True when a listener for the port proxies TCP straight to the target's cluster
        (istiod gives a TCP Service its own `CLUSTER_IP_PORT` listener): routes do not
        apply to the call."""
        wanted = outbound_cluster(self.target.port, self.target.host)
        return any(wanted in chain.tcp_cluster.split(",") for _, chain in self.listener_chains)

    @cached_property
    def routes_for_port(self) -> list[RouteRecord]:
        return [r for r in self.client.routes() if r.route_config in self.route_config_names
                and not r.inline_listener]

    @cached_property
    def matched_route(self) -> RouteRecord | None:
        """The first route of the first non-catch-all virtual host that answers the Host;
        on a gateway, whose virtual hosts answer the outside world's hosts, the first route
        that sends to the target Service's port."""
        if self.is_gateway:
            return next((r for r in self.routes_for_port if any(
                _sends_to(c, self.target.host, self.target.port) for c, _ in r.clusters)),
                None)
        host_forms = [self.target.host, f"{self.target.host}:{self.target.port}"]
        for route in self.routes_for_port:
            if route.virtual_host in CATCH_ALL_VHOSTS:
                continue
            if any(vhost_matches(route.domains, h) for h in host_forms):
                return route
        return None

    @cached_property
    def catch_all_route(self) -> RouteRecord | None:
        """The catch-all virtual host (`allow_any` or `block_all`) the call falls into
        when no virtual host names it."""
        if self.matched_route is not None or self.is_gateway:
            return None
        for route in self.routes_for_port:
            if route.virtual_host in CATCH_ALL_VHOSTS or route.domains == ["*"]:
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
    def host_forms(self) -> set[str]:
        """The names a caller can give in the Host header for the target."""
        host = self.target.host
        forms = {host}
        if self.target.name:
            name, ns = self.target.name, self.target.namespace
            forms |= {f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster"}
            client_ns = self.mesh.client_namespace if self.mesh else None
            if client_ns in (None, ns):
                forms.add(name)
            ip = ((self.target.service or {}).get("spec") or {}).get("clusterIP")
            if isinstance(ip, str) and ip not in ("", "None"):
                forms.add(ip)
        return forms

    def is_call(self, entry: AccessLogEntry) -> bool:
        """Is this access-log line a call to the target host and port?"""
        cluster = entry.upstream_cluster
        if cluster and cluster != "-":
            parsed = parse_cluster_name(cluster)
            if parsed.direction == "outbound":
                return parsed.fqdn == self.target.host and parsed.port == self.target.port
            if parsed.direction == "inbound":
                return False
        authority = entry.authority.lower()
        host, sep, port = authority.rpartition(":")
        if not sep or port_number(port) is None:
            host, port = authority, ""
        if host not in self.host_forms:
            return False
        local_port = port_number(entry.downstream_local.rpartition(":")[2])
        if local_port is not None:
            return local_port == self.target.port or port_number(port) == self.target.port
        return not port or port_number(port) == self.target.port

    @cached_property
    def call_entries(self) -> list[AccessLogEntry]:
        """The client's access-log lines for this call, newest last."""
        return [e for e in self.client.log_entries if self.is_call(e)]

    def failures(self, flag: str | None = None) -> list[AccessLogEntry]:
        bad = [e for e in self.call_entries if e.status >= 500 or e.status == 404]
        if flag:
            bad = [e for e in bad if flag in e.flags]
        return bad

    def server_entries(self, server: ProxyView) -> list[AccessLogEntry]:
        """The server sidecar's inbound lines (calls arriving from any client)."""
        target_port = self.target_port
        out = []
        for e in server.log_entries:
            cluster = parse_cluster_name(e.upstream_cluster) if e.upstream_cluster else None
            if cluster is not None and cluster.direction == "inbound":
                if target_port is None or cluster.port in (None, target_port):
                    out.append(e)
        return out

    # mesh -----------------------------------------------------------------------------
    @cached_property
    def target_port(self) -> int | None:
        """The Service port's targetPort, resolved against a pod's named ports."""
        port = self.target.service_port or {}
        value = port.get("targetPort", port.get("port", self.target.port))
        if isinstance(value, int):
            return value
        if isinstance(value, str) and port_number(value) is not None:
            return port_number(value)
        for pod in self.server_pods[:1]:
            for c in ((pod.get("spec") or {}).get("containers") or []):
                for p in c.get("ports") or []:
                    if isinstance(p, dict) and p.get("name") == value:
                        number = p.get("containerPort")
                        return number if isinstance(number, int) else None
        return None

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
        return policy.peer_auth_mode(self.state, self.mesh.mesh, meta(pod).get("namespace", ""),
                                     labels(pod), self.target_port)

    def subset_of(self, cluster_name: str) -> str:
        return parse_cluster_name(cluster_name).subset

    def inbound_chains(self, server: ProxyView) -> list[inbound.InboundChain]:
        """The server proxy's inbound chains a call to the Service's target port takes."""
        if not server.reachable:
            return []
        return inbound.chains_for_port(server.listeners(), self.target_port)
