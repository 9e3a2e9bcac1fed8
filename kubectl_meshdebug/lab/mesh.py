"""A mesh on loopback: pods, Services and the Envoy config istiod would send for them.

A scenario describes pods and Services (with the DestinationRule/VirtualService effects
already applied, as istiod would) plus the Istio objects themselves; `LabMesh.start()`
writes the xDS files, starts the apps and the Envoys, and `manifests()` returns the
Kubernetes objects that `-f` reads, consistent with the running config.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_meshdebug.lab import xds
from kubectl_meshdebug.lab.apps import AppServer
from kubectl_meshdebug.lab.envoyproc import EnvoyProcess


@dataclass
class LabPod:
    name: str
    namespace: str = "foo"
    labels: dict[str, str] = field(default_factory=dict)
    sidecar: bool = True
    app: str | None = "ok"  # behaviour, or None for no app
    app_port: int = 8080  # where the app really listens
    service_account: str = "default"
    annotations: dict[str, str] = field(default_factory=dict)
    ip: str = ""
    local_ip: str = ""  # the pod's "localhost", where the app listens behind a sidecar


@dataclass
class LabService:
    name: str
    namespace: str = "foo"
    port: int = 8000
    target_port: int = 8080
    port_name: str = "http"
    pods: list[LabPod] = field(default_factory=list)
    selector: dict[str, str] = field(default_factory=dict)
    tls: str = "auto"  # what istiod put on the cluster: auto | istio | none
    subsets: dict[str, list[LabPod]] = field(default_factory=dict)
    missing_subset_routes: list[str] = field(default_factory=list)
    route_subsets: list[tuple[str, int]] | None = None  # VS route: (subset, weight)
    circuit_breakers: dict[str, int] | None = None
    outlier: dict[str, Any] | None = None
    destination_rule: str | None = None  # "ns/name" for Istio's metadata
    virtual_service: str | None = None
    cluster_ip: str = ""
    visible: bool = True  # False: a Sidecar resource hides it from the client
    route_timeout: str | None = None  # the VirtualService's timeout, e.g. "1s"

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.cluster.local"


def free_block(tries: int = 50) -> int:
    """A 127.N.0.0/16 block whose admin addresses nobody holds (other labs, other runs)."""
    import socket

    for _ in range(tries):
        block = random.randint(20, 250)
        free = True
        for host in (2, 3, 4, 5):
            with socket.socket() as probe:
                try:
                    probe.bind((f"127.{block}.0.{host}", 15000))
                except OSError:
                    free = False
                    break
        if free:
            return block
    raise RuntimeError("no free 127.N.0.0/16 block for the lab")


def bind_port(port: int) -> int:
    """Privileged ports are bound 10000 higher; the listener keeps Istio's name for PORT."""
    return port if port >= 1024 else port + 10000


class LabMesh:
    """One client sidecar (`sleep`) calling Services backed by server pods."""

    def __init__(self, services: list[LabService], *, client: LabPod | None = None,
                 objects: list[dict[str, Any]] | None = None,
                 extra_pods: list[LabPod] | None = None, block: int | None = None,
                 broken: str | None = None, client_stats_prefixes: list[str] | None = None,
                 outbound_policy: str = "ALLOW_ANY", workdir: str | None = None,
                 gateway_port: int | None = None) -> None:
        self.block = block if block is not None else free_block()
        self.services = services
        self.client = client or LabPod("sleep", labels={"app": "sleep"},
                                       service_account="sleep", app=None)
        self.objects = objects or []
        # which xDS update the client proxy rejects: "rds", "cds" or "lds" (None: none)
        self.broken = broken
        self.outbound_policy = outbound_policy  # ALLOW_ANY or REGISTRY_ONLY
        self.client_stats_prefixes = client_stats_prefixes or []
        # The client is an ingress gateway (router) serving this port: istiod gives it
        # the route config `http.PORT` of the Gateway's server, no virtualOutbound.
        self.gateway_port = gateway_port
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="meshdebug-lab-"))
        self.pods: list[LabPod] = [self.client]
        for svc in services:
            for pod in svc.pods:
                if pod not in self.pods:
                    self.pods.append(pod)
        for pod in extra_pods or []:
            if pod not in self.pods:
                self.pods.append(pod)
        for i, pod in enumerate(self.pods):
            pod.ip = f"127.{self.block}.0.{i + 2}"
            pod.local_ip = f"127.{self.block}.1.{i + 2}" if pod.sidecar else pod.ip
        for i, svc in enumerate(services):
            svc.cluster_ip = svc.cluster_ip or f"10.96.{self.block}.{i + 10}"
        self.envoys: dict[str, EnvoyProcess] = {}
        self.apps: list[AppServer] = []

    # addresses -----------------------------------------------------------------------
    def admin_url(self, pod: LabPod) -> str:
        return f"http://{pod.ip}:15000"

    def admin_url_args(self) -> list[str]:
        args = []
        for pod in self.pods:
            if pod.name in self.envoys:
                args += ["--admin-url", f"{pod.namespace}/{pod.name}={self.admin_url(pod)}"]
        return args

    def client_listener(self, port: int) -> tuple[str, int]:
        """Where the client's outbound listener for PORT is bound (iptables would capture)."""
        return self.client.ip, bind_port(port)

    def client_target(self, host: str, port: int) -> tuple[str, int]:
        """Where the client app connects to reach HOST on PORT: here, straight to the
        client sidecar's listener for the port (no iptables on loopback)."""
        return self.client_listener(port)

    # config ----------------------------------------------------------------------------
    def _write(self, name: str, doc: dict[str, Any]) -> Path:
        path = self.workdir / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)  # Envoy only notices a rename
        return path

    def _connection_pool(self, svc: LabService) -> dict[str, int] | None:
        """The circuit breakers of the Service's DestinationRule object, as istiod renders
        them, so that what the lab shows follows the objects it loads."""
        if not svc.destination_rule:
            return None
        namespace, _, name = svc.destination_rule.partition("/")
        for o in self.objects:
            m = o.get("metadata") or {}
            if o.get("kind") == "DestinationRule" and m.get("namespace") == namespace and \
                    m.get("name") == name:
                return xds.circuit_breakers_from((o.get("spec") or {}).get("trafficPolicy") or {})
        return None

    def _endpoints(self, svc: LabService, pods: list[LabPod]) -> list[tuple[str, int, bool]]:
        return [(p.ip, svc.target_port, p.sidecar) for p in pods]

    def _client_config(self) -> dict[str, Path]:
        clusters = [xds.passthrough_cluster(), xds.blackhole_cluster()]
        routes_by_port: dict[int, list[dict[str, Any]]] = {}
        for svc in self.services:
            if not svc.visible:
                continue
            services_meta = [{"host": svc.fqdn, "name": svc.name, "namespace": svc.namespace}]
            config = (f"/apis/networking.istio.io/v1/namespaces/{svc.destination_rule.split('/')[0]}"
                      f"/destination-rule/{svc.destination_rule.split('/')[1]}"
                      if svc.destination_rule else None)
            variants = [("", svc.pods)] + list(svc.subsets.items())
            for subset, pods in variants:
                name = f"outbound|{svc.port}|{subset}|{svc.fqdn}"
                eds = self._write(f"eds-{len(clusters)}.json", xds.discovery_response(
                    "envoy.config.endpoint.v3.ClusterLoadAssignment",
                    [xds.eds_assignment(name, self._endpoints(svc, pods))], "eds-1"))
                clusters.append(xds.outbound_cluster(
                    name, eds, tls=svc.tls, sni=f"outbound_.{svc.port}_.{subset}_.{svc.fqdn}",
                    san=f"spiffe://cluster.local/ns/{svc.namespace}/sa/"
                        f"{(pods or svc.pods or [LabPod('x')])[0].service_account}",
                    metadata=xds.istio_metadata(config, services_meta, subset or None),
                    circuit_breakers=svc.circuit_breakers or self._connection_pool(svc),
                    outlier=svc.outlier))
            if svc.route_subsets:
                weighted = [(f"outbound|{svc.port}|{s}|{svc.fqdn}", w) for s, w in svc.route_subsets]
            else:
                weighted = [(f"outbound|{svc.port}||{svc.fqdn}", 100)]
            if len(weighted) == 1:
                action: dict[str, Any] = {"cluster": weighted[0][0]}
            else:
                action = {"weighted_clusters": {"clusters": [
                    {"name": c, "weight": w} for c, w in weighted]}}
            action.update({"timeout": svc.route_timeout or "0s", "retry_policy": xds.ISTIO_RETRY,
                           "max_grpc_timeout": svc.route_timeout or "0s"})
            route: dict[str, Any] = {"match": {"prefix": "/"}, "route": action,
                                     "name": "default" if not svc.virtual_service else svc.name,
                                     "decorator": {"operation": f"{svc.fqdn}:{svc.port}/*"}}
            if svc.virtual_service:
                vs_ns, vs_name = svc.virtual_service.split("/")
                route["metadata"] = xds.istio_metadata(
                    f"/apis/networking.istio.io/v1/namespaces/{vs_ns}/virtual-service/{vs_name}")
            routes_by_port.setdefault(svc.port, []).append({
                "name": f"{svc.fqdn}:{svc.port}",
                "domains": xds.service_domains(svc.name, svc.namespace, svc.port, svc.cluster_ip),
                "routes": [route],
                "include_request_attempt_count": True,
            })
        if self.broken == "cds":
            # one invalid cluster (as a bad EnvoyFilter patch makes): Envoy rejects the
            # whole update, and the proxy holds none of its clusters
            clusters.append(dict(xds.static_cluster(
                "outbound|9999||patched.foo.svc.cluster.local", "127.0.0.1", 9),
                connect_timeout="-1s"))
        cds = self._write("cds.json", xds.discovery_response(
            "envoy.config.cluster.v3.Cluster", clusters, "cds-1"))
        if self.gateway_port is not None:
            # a router: one route config for the Gateway's server, every host (`*`)
            port = self.gateway_port
            every = [r for vhs in routes_by_port.values() for vh in vhs for r in vh["routes"]]
            listeners = [self._routed_listener(port, f"http.{port}", [{
                "name": f"*:{port}", "domains": ["*"], "routes": every,
                "include_request_attempt_count": True}])]
        else:
            listeners = []
            for port, vhosts in sorted(routes_by_port.items()):
                if self.broken == "rds":
                    vhosts = vhosts + [dict(vhosts[0], name="duplicate")]  # duplicate domains
                listeners.append(self._routed_listener(
                    port, str(port), vhosts + [xds.catch_all_vhost(self.outbound_policy)]))
            listeners.append(xds.virtual_outbound(self.client.ip))
        if self.broken == "lds":
            # a filter this Envoy does not have (as a bad EnvoyFilter patch adds) in the
            # first outbound listener: Envoy rejects that listener, keeps the others
            chain = listeners[0]["filter_chains"][0]
            chain["filters"] = [{"name": "envoy.filters.network.patched", "typed_config": {
                "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                "type_url": "type.googleapis.com/istio.patched.v1.Filter"}}] + chain["filters"]
        lds = self._write("lds.json", xds.discovery_response(
            "envoy.config.listener.v3.Listener", listeners, "lds-1"))
        return {"cds": cds, "lds": lds}

    def _routed_listener(self, port: int, route_config: str,
                         vhosts: list[dict[str, Any]]) -> dict[str, Any]:
        """The client's listener for PORT and its route config (RDS from a file)."""
        rds = self._write(f"rds-{port}.json", xds.discovery_response(
            "envoy.config.route.v3.RouteConfiguration",
            [{"name": route_config, "virtual_hosts": vhosts, "validate_clusters": False}],
            "rds-1"))
        return xds.outbound_listener(port, self.client.ip, rds, bind=bind_port(port),
                                     route_config=route_config)

    def _server_config(self, pod: LabPod) -> dict[str, Path]:
        """What istiod sends a server sidecar: its inbound clusters and virtualInbound."""
        ports = sorted({svc.target_port for svc in self.services if pod in svc.pods})
        clusters = [xds.blackhole_cluster(), xds.passthrough_cluster("InboundPassthroughCluster")]
        h2 = {svc.target_port for svc in self.services if pod in svc.pods
              and svc.port_name.split("-")[0] in ("http2", "grpc")}
        clusters += [xds.static_cluster(f"inbound|{port}||", pod.local_ip, port, port in h2)
                     for port in ports]
        server = "httpbin" if pod.service_account not in ("sleep",) else "sleep"
        listener = xds.virtual_inbound(pod.ip, [(p, f"inbound|{p}||") for p in ports],
                                       mode=self.peer_auth_mode(pod), server=server)
        tag = pod.name
        cds = self._write(f"{tag}-cds.json", xds.discovery_response(
            "envoy.config.cluster.v3.Cluster", clusters, "cds-1"))
        lds = self._write(f"{tag}-lds.json", xds.discovery_response(
            "envoy.config.listener.v3.Listener", [listener], "lds-1"))
        return {"cds": cds, "lds": lds}

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> LabMesh:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for pod in self.pods:
            if pod.app:
                self.apps.append(AppServer((pod.local_ip, pod.app_port), pod.app, pod.name).start())
        client = self.client
        boot = xds.bootstrap(
            f"sidecar~{client.ip}~{client.name}.{client.namespace}~{client.namespace}.svc."
            "cluster.local", (client.ip, 15000), self._client_config(),
            stats_prefixes=self.client_stats_prefixes)
        self.envoys[client.name] = EnvoyProcess(client.name, self.workdir, boot,
                                                (client.ip, 15000))
        for svc in self.services:
            for pod in svc.pods:
                if not pod.sidecar or pod.name in self.envoys:
                    continue
                boot = xds.bootstrap(
                    f"sidecar~{pod.ip}~{pod.name}.{pod.namespace}~{pod.namespace}.svc."
                    "cluster.local", (pod.ip, 15000), self._server_config(pod))
                self.envoys[pod.name] = EnvoyProcess(pod.name, self.workdir, boot,
                                                     (pod.ip, 15000))
        for name, envoy in self.envoys.items():
            # a proxy that rejected its first cluster update never finishes initialising
            envoy.start(ready=not (self.broken == "cds" and name == client.name))

    def peer_auth_mode(self, pod: LabPod) -> str:
        """The server side's mode: the pod's namespace PeerAuthentication, else the
        mesh-wide one in istio-system, else PERMISSIVE (Istio's default)."""
        by_ns: dict[str, str] = {}
        for obj in self.objects:
            if obj.get("kind") != "PeerAuthentication":
                continue
            spec = obj.get("spec") or {}
            mode = (spec.get("mtls") or {}).get("mode")
            if mode and mode != "UNSET" and not spec.get("selector"):
                by_ns[obj["metadata"].get("namespace")] = mode
        return by_ns.get(pod.namespace) or by_ns.get("istio-system") or "PERMISSIVE"

    def strict_mtls(self, svc: LabService) -> bool:
        """Server side: STRICT where a PeerAuthentication says so."""
        return any(self.peer_auth_mode(p) == "STRICT" for p in svc.pods) if svc.pods else False

    def stop(self) -> None:
        for envoy in self.envoys.values():
            envoy.stop()
        for app in self.apps:
            app.stop()
        self.apps = []
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LabMesh:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client_log(self) -> Path:
        return self.envoys[self.client.name].log_path

    # manifests -----------------------------------------------------------------------------
    def manifests(self) -> list[dict[str, Any]]:
        namespaces = sorted({p.namespace for p in self.pods} | {s.namespace for s in self.services})
        objs: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": ns, "labels": {"istio-injection": "enabled"}}}
            for ns in namespaces
        ]
        for pod in self.pods:
            containers = []
            if pod.app is not None or pod is not self.client:
                containers.append({"name": "app", "image": "lab/app",
                                   "ports": [{"containerPort": pod.app_port, "protocol": "TCP"}]})
            else:
                containers.append({"name": "sleep", "image": "curlimages/curl"})
            if pod is self.client and self.gateway_port is not None:
                containers = [{"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0",
                               "args": ["proxy", "router", "--domain",
                                        f"{pod.namespace}.svc.cluster.local"]}]
            elif pod.sidecar:
                containers.append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0"})
            objs.append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": pod.labels,
                             "annotations": dict(pod.annotations),
                             "creationTimestamp": "2026-11-01T00:00:00Z"},
                "spec": {"serviceAccountName": pod.service_account, "containers": containers},
                "status": {"phase": "Running", "podIP": pod.ip,
                           "conditions": [{"type": "Ready", "status": "True"}]},
            })
        for svc in self.services:
            # Services select the app, not its version: subsets pick versions
            selector = svc.selector or {k: v for k, v in (svc.pods[0].labels if svc.pods
                                                          else {}).items() if k != "version"}
            objs.append({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": svc.name, "namespace": svc.namespace},
                "spec": {"clusterIP": svc.cluster_ip, "selector": selector, "ports": [
                    {"name": svc.port_name, "port": svc.port, "targetPort": svc.target_port,
                     "protocol": "TCP"}]},
            })
            objs.append({
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": svc.name, "namespace": svc.namespace},
                "subsets": [{"addresses": [{"ip": p.ip, "targetRef": {
                    "kind": "Pod", "name": p.name, "namespace": p.namespace}}
                    for p in svc.pods],
                    "ports": [{"name": svc.port_name, "port": svc.target_port}]}]
                if svc.pods else [],
            })
        return objs + self.objects

    def write_manifests(self) -> Path:
        import yaml

        path = self.workdir / "manifests.yaml"
        path.write_text(yaml.safe_dump_all(self.manifests(), sort_keys=False))
        return path
