"""Join Envoy's view to the mesh: which Service, DestinationRule, VirtualService and pods
stand behind each cluster, route and endpoint.

Istio's own metadata on clusters and routes (`filter_metadata.istio.config`, `services`,
`subset`) is the join key when present; names are parsed for dumps without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from kubectl_meshdebug.kube.state import ClusterState, labels, meta
from kubectl_meshdebug.kube.targets import is_ready, service_pods
from kubectl_meshdebug.mesh import policy
from kubectl_meshdebug.mesh.meshconfig import MeshConfig, load_mesh_config
from kubectl_meshdebug.mesh.names import ClusterName, fqdn_parts

Obj = dict[str, Any]


def config_ref(path: str) -> str:
    """`/apis/networking.istio.io/v1/namespaces/foo/destination-rule/httpbin` ->
    `DestinationRule foo/httpbin`."""
    parts = path.strip("/").split("/")
    if "namespaces" in parts:
        i = parts.index("namespaces")
        if len(parts) >= i + 4:
            kind = "".join(w.capitalize() for w in parts[i + 2].split("-"))
            return f"{kind} {parts[i + 1]}/{parts[i + 3]}"
    return path


def pods_by_ip(state: ClusterState) -> dict[str, Obj]:
    """Every pod the state can list, by its podIP (how Envoy names a host)."""
    out = {}
    for pod in state.list("Pod"):
        status = pod.get("status") if isinstance(pod.get("status"), dict) else {}
        ip = status.get("podIP")
        if isinstance(ip, str) and ip:
            out[ip] = pod
    return out


@dataclass
class SubsetInfo:
    name: str
    labels: dict[str, str]
    pods: list[str]


class MeshContext:
    """The mesh around one client pod; every index is built on first use."""

    def __init__(self, state: ClusterState, client_pod: Obj | None, client_namespace: str) -> None:
        self.state = state
        self.client_pod = client_pod
        self.client_namespace = client_namespace

    @classmethod
    def build(cls, state: ClusterState, client_pod: Obj | None, namespace: str) -> MeshContext:
        ns = meta(client_pod).get("namespace", namespace) if client_pod else namespace
        return cls(state, client_pod, str(ns))

    @cached_property
    def mesh(self) -> MeshConfig:
        return load_mesh_config(self.state)

    @cached_property
    def services(self) -> dict[str, Obj]:
        out = {}
        for svc in self.state.list("Service"):
            m = meta(svc)
            out[f"{m.get('name')}.{m.get('namespace')}.svc.cluster.local"] = svc
        return out

    @cached_property
    def pods_by_ip(self) -> dict[str, Obj]:
        return pods_by_ip(self.state)

    @property
    def client_labels(self) -> dict[str, str] | None:
        return labels(self.client_pod) if self.client_pod else None

    def service(self, fqdn: str) -> Obj | None:
        return self.services.get(fqdn)

    def service_namespace(self, fqdn: str) -> str | None:
        svc = self.service(fqdn)
        if svc is not None:
            return meta(svc).get("namespace")
        parts = fqdn_parts(fqdn)
        return parts[1] if parts else None

    def destination_rule(self, fqdn: str) -> Obj | None:
        return policy.find_destination_rule(
            self.state, self.mesh, fqdn, self.client_namespace, self.client_labels,
            self.service_namespace(fqdn))

    def subset(self, dr: Obj | None, fqdn: str, name: str) -> SubsetInfo | None:
        """The DR subset and the running pods it selects among the Service's pods."""
        if not name:
            return None
        subset_labels: dict[str, str] | None = None
        if dr is not None:
            for s in (dr.get("spec") or {}).get("subsets") or []:
                if s.get("name") == name:
                    subset_labels = dict(s.get("labels") or {})
        if subset_labels is None:
            return SubsetInfo(name, {}, [])
        return SubsetInfo(name, subset_labels, [meta(p).get("name", "")
                                                for p in self.service_pods(fqdn, subset_labels)])

    def service_pods(self, fqdn: str, extra: dict[str, str] | None = None) -> list[Obj]:
        svc = self.service(fqdn)
        if svc is None:
            return []
        return [p for p in service_pods(self.state, svc, extra) if is_ready(p)]

    def expected_tls(self, name: ClusterName, dr: Obj | None) -> policy.ExpectedTls:
        return policy.expected_client_tls(dr, self.mesh, name.port, name.subset)


def owning_config(istio_meta: dict[str, Any]) -> str:
    config = istio_meta.get("config")
    return config_ref(str(config)) if config else ""
