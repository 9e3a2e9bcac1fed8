"""A mesh on loopback: pods, Services, and what real istiod sent their sidecars.

A lab mesh is the Kubernetes and Istio objects of one scenario plus the behaviour of its
apps. The Envoy configuration is never written by hand: it is what istiod rendered for
the same objects on the real mesh of tests/cluster, recorded per mesh (lab/recording.py)
and replayed into the lab's Envoys (lab/replay.py). `manifests()` returns the objects
that `-f` reads, with the lab's addresses.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_meshdebug.lab import recording as recordings
from kubectl_meshdebug.lab.apps import AppServer, OutsideHttps
from kubectl_meshdebug.lab.envoyproc import EnvoyProcess
from kubectl_meshdebug.lab.replay import Capture, cert_files, privileged, replay
from kubectl_meshdebug.lab.restxds import RestXds


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
    """A Service: what `manifests()` writes. What istiod makes of it comes from the
    recording, never from here."""
    name: str
    namespace: str = "foo"
    port: int = 8000
    target_port: int = 8080
    port_name: str = "http"
    pods: list[LabPod] = field(default_factory=list)
    selector: dict[str, str] = field(default_factory=dict)
    cluster_ip: str = ""

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


class LabMesh:
    """One client (`sleep`, or a gateway) calling Services backed by server pods; its
    Envoys replay the recording named RECORDING (a scenario's name, usually set by the
    scenario that builds the mesh)."""

    def __init__(self, services: list[LabService], *, client: LabPod | None = None,
                 objects: list[dict[str, Any]] | None = None,
                 extra_pods: list[LabPod] | None = None, block: int | None = None,
                 broken: str | None = None, workdir: str | None = None,
                 gateway_port: int | None = None, recording: str | None = None) -> None:
        self.block = block if block is not None else free_block()
        self.services = services
        self.client = client or LabPod("sleep", labels={"app": "sleep"},
                                       service_account="sleep", app=None)
        self.objects = objects or []
        # the fault the real mesh makes with an EnvoyFilter: the client proxy rejects its
        # "rds", "cds" or "lds" update (None: none); the recording holds the bad resource
        self.broken = broken
        # The client is an ingress gateway (router) serving this port
        self.gateway_port = gateway_port
        self.recording = recording
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
            svc.cluster_ip = svc.cluster_ip or f"10.96.{self.block}.{i + 100}"
        self.envoys: dict[str, EnvoyProcess] = {}
        self.captures: dict[str, Capture] = {}
        self.eds: RestXds | None = None
        self.kubernetes_ip = f"10.96.{self.block}.1"
        self.address_map: dict[str, str] = {}  # recorded address -> lab address, once started
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

    def client_target(self, host: str, port: int) -> tuple[str, int]:
        """Where the client app connects to reach HOST on PORT: the client sidecar's
        listener iptables would have sent the call to (see replay.Capture)."""
        name = host.split(":")[0]
        parts = name.split(".")
        address = "0.0.0.0"
        for svc in self.services:
            if svc.name == parts[0] and (len(parts) == 1 and svc.namespace ==
                                         self.client.namespace or parts[1:2] == [svc.namespace]):
                address = svc.cluster_ip
        capture = self.captures.get(self.client.name)
        target = capture.target(address, port) if capture else None
        if target is None:
            raise RuntimeError(f"the client proxy has no listener for {host}:{port}")
        return target

    def _address_map(self, rec: recordings.Recording) -> dict[str, str]:
        """Every address of the recording onto the lab's block: pods onto their lab
        addresses, ClusterIPs onto 10.96.N.x (in the test API server's Service range; the
        lab's Services take those, and the proxies' listeners for them are bound on
        loopback, see replay.Capture), istiod and the outside host onto 127.N.3.x."""
        pods = {f"{p.namespace}/{p.name}": p for p in self.pods}
        services = {f"{s.namespace}/{s.name}": s for s in self.services}
        mapping: dict[str, str] = {}
        spare = 10
        for index, (address, role) in enumerate(sorted(rec.addresses.items(),
                                                       key=lambda kv: kv[1])):
            kind, _, ref = role.partition(" ")
            if kind == "pod" and ref in pods:
                mapping[address] = pods[ref].ip
            elif kind == "service":
                mapping[address] = f"10.96.{self.block}.{index + 2}"
                if ref == "default/kubernetes":
                    self.kubernetes_ip = mapping[address]
                if ref in services:
                    services[ref].cluster_ip = mapping[address]
            elif role == "istiod":
                mapping[address] = f"127.{self.block}.3.1"
            elif role == "external":
                mapping[address] = f"127.{self.block}.3.2"
            else:
                spare += 1
                mapping[address] = f"127.{self.block}.3.{spare}"
        return mapping

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> LabMesh:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self.recording is None:
            raise RuntimeError("a lab mesh needs the name of its recording")
        rec = recordings.load(self.recording)
        mapping = self.address_map = self._address_map(rec)
        xds = self.workdir / "xds"
        xds.mkdir(exist_ok=True)
        for pod in self.pods:
            if pod.app:
                self.apps.append(AppServer((pod.local_ip, pod.app_port), pod.app, pod.name).start())
        outside = (f"127.{self.block}.3.2", privileged(443))
        self.eds = RestXds((f"127.{self.block}.3.3", 15010)).start()  # an address of its own
        cert, key = cert_files("foo", "httpbin")  # any certificate: callers don't verify it
        self.apps.append(OutsideHttps(outside, str(cert), str(key)).start())
        for i, pod in enumerate(self.pods):
            proxy = rec.proxy(pod.namespace, pod.name) if pod.sidecar else None
            if proxy is None:
                continue
            capture_ips = {lab: f"127.{self.block}.{16 + i}.{lab.rsplit('.', 1)[1]}"
                           for lab in mapping.values() if lab.startswith(f"10.96.{self.block}.")}
            out = replay(proxy, mapping, pod_ip=pod.ip, local_ip=pod.local_ip,
                         capture_ip=f"127.{self.block}.{16 + i}.1", capture_ips=capture_ips,
                         folder=xds, outside=outside, eds=self.eds)
            self.captures[pod.name] = out.capture
            self.envoys[pod.name] = EnvoyProcess(pod.name, self.workdir, out.bootstrap,
                                                 (pod.ip, 15000))
        for name, envoy in self.envoys.items():
            # a proxy that rejected its first cluster update never finishes initialising
            envoy.start(ready=not (self.broken == "cds" and name == self.client.name))

    def stop(self) -> None:
        for envoy in self.envoys.values():
            envoy.stop()
        for app in self.apps:
            app.stop()
        self.apps = []
        if self.eds is not None:
            self.eds.stop()
            self.eds = None
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

    def platform_objects(self) -> list[dict[str, Any]]:
        """What every cluster holds beside the scenario's objects, as the API server
        creates it: Service default/kubernetes (port 443, `https`). A live cluster has it,
        so the files `-f` reads have it too."""
        return [{"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "kubernetes", "namespace": "default",
                              "labels": {"component": "apiserver", "provider": "kubernetes"}},
                 "spec": {"clusterIP": self.kubernetes_ip, "type": "ClusterIP", "ports": [
                     {"name": "https", "port": 443, "targetPort": 6443,
                      "protocol": "TCP"}]}}]

    def write_manifests(self) -> Path:
        """The scenario's objects and the platform's, for `-f`."""
        import yaml

        path = self.workdir / "manifests.yaml"
        path.write_text(yaml.safe_dump_all(self.manifests() + self.platform_objects(),
                                           sort_keys=False))
        return path
