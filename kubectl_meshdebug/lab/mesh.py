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
                 broken_rds: bool = False, client_stats_prefixes: list[str] | None = None,
                 catch_all: bool = True, workdir: str | None = None) -> None:
        self.block = block if block is not None else free_block()
        self.services = services
        self.client = client or LabPod("sleep", labels={"app": "sleep"},
                                       service_account="sleep", app=None)
        self.objects = objects or []
        self.broken_rds = broken_rds
        self.catch_all = catch_all  # ALLOW_ANY's allow_any virtual host on every route config
        self.client_stats_prefixes = client_stats_prefixes or []
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

    # config ----------------------------------------------------------------------------
    def _write(self, name: str, doc: dict[str, Any]) -> Path:
        path = self.workdir / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)  # Envoy only notices a rename
        return path

    def _endpoints(self, svc: LabService, pods: list[LabPod]) -> list[tuple[str, int, bool]]:
        return [(p.ip, svc.target_port, p.sidecar) for p in pods]

    def _client_config(self) -> dict[str, Path]:
        clusters = []
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
                    circuit_breakers=svc.circuit_breakers, outlier=svc.outlier))
            if svc.route_subsets:
                weighted = [(f"outbound|{svc.port}|{s}|{svc.fqdn}", w) for s, w in svc.route_subsets]
            else:
                weighted = [(f"outbound|{svc.port}||{svc.fqdn}", 100)]
            if len(weighted) == 1:
                action: dict[str, Any] = {"cluster": weighted[0][0]}
            else:
                action = {"weighted_clusters": {"clusters": [
                    {"name": c, "weight": w} for c, w in weighted]}}
            action.update({"timeout": "0s", "retry_policy": xds.ISTIO_RETRY,
                           "max_grpc_timeout": "0s"})
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
        cds = self._write("cds.json", xds.discovery_response(
            "envoy.config.cluster.v3.Cluster", clusters, "cds-1"))
        listeners = []
        rds_files = []
        for port, vhosts in sorted(routes_by_port.items()):
            if self.broken_rds:
                vhosts = vhosts + [dict(vhosts[0], name="duplicate")]  # duplicate domains
            allow_any = [{
                "name": "allow_any", "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "name": "allow_any",
                            "route": {"cluster": "PassthroughCluster", "timeout": "0s"}}]}]
            rds = self._write(f"rds-{port}.json", xds.discovery_response(
                "envoy.config.route.v3.RouteConfiguration",
                [{"name": str(port), "virtual_hosts": vhosts + (
                    allow_any if self.catch_all else []),
                  "validate_clusters": False}], "rds-1"))
            rds_files.append(rds)
            listeners.append(xds.outbound_listener(port, self.client.ip, rds,
                                                   bind=bind_port(port)))
        lds = self._write("lds.json", xds.discovery_response(
            "envoy.config.listener.v3.Listener", listeners, "lds-1"))
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
        dynamic = self._client_config()
        boot = xds.bootstrap(
            f"sidecar~{client.ip}~{client.name}.{client.namespace}~{client.namespace}.svc."
            "cluster.local", (client.ip, 15000), dynamic,
            static_clusters=[xds.static_cluster("PassthroughCluster", "127.0.0.1", 9),
                             xds.static_cluster("BlackHoleCluster", "127.0.0.1", 9)],
            stats_prefixes=self.client_stats_prefixes)
        self.envoys[client.name] = EnvoyProcess(client.name, self.workdir, boot,
                                                (client.ip, 15000))
        for svc in self.services:
            for pod in svc.pods:
                if not pod.sidecar or pod.name in self.envoys:
                    continue
                inbound = f"inbound|{svc.target_port}||"
                boot = xds.bootstrap(
                    f"sidecar~{pod.ip}~{pod.name}.{pod.namespace}~{pod.namespace}.svc."
                    "cluster.local", (pod.ip, 15000), None,
                    static_clusters=[xds.static_cluster(inbound, pod.local_ip, svc.target_port)],
                    static_listeners=[xds.inbound_listener(
                        pod.ip, svc.target_port, inbound, mtls=self.strict_mtls(svc),
                        server=svc.name if svc.name in ("httpbin", "sleep") else "httpbin")])
                self.envoys[pod.name] = EnvoyProcess(pod.name, self.workdir, boot,
                                                     (pod.ip, 15000))
        for envoy in self.envoys.values():
            envoy.start()

    def strict_mtls(self, svc: LabService) -> bool:
        """Server side: STRICT when a PeerAuthentication in the objects says so."""
        for obj in self.objects:
            if obj.get("kind") == "PeerAuthentication":
                mode = ((obj.get("spec") or {}).get("mtls") or {}).get("mode")
                ns = obj["metadata"].get("namespace")
                if mode == "STRICT" and ns in ("istio-system", svc.namespace):
                    return True
        return False

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
            if pod.sidecar:
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
