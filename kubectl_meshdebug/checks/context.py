"""What the object-only checks read: one pass over the cluster state, shared by all checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.kube.state import ClusterState, labels, meta
from kubectl_meshdebug.mesh.meshconfig import MeshConfig, load_mesh_config
from kubectl_meshdebug.mesh.registry import RegistryEntry, build_registry

Obj = dict[str, Any]
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "istio-system",
                     "local-path-storage"}
TOPOLOGY_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone",
                   "topology.istio.io/subzone", "kubernetes.io/hostname")


@dataclass
class AuditContext:
    state: ClusterState
    mesh: MeshConfig
    registry: list[RegistryEntry]
    scope: str | None  # namespace the user asked about; None for -A
    node_labels: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def build(cls, state: ClusterState, scope: str | None) -> AuditContext:
        ctx = cls(state, load_mesh_config(state), build_registry(state), scope)
        for node in state.list("Node"):
            ctx.node_labels[meta(node).get("name", "")] = labels(node)
        return ctx

    def in_scope(self, obj: Obj) -> bool:
        return self.scope is None or meta(obj).get("namespace") == self.scope

    def list(self, kind: str) -> list[Obj]:
        return self.state.list(kind)

    def namespaces(self) -> set[str]:
        names = {meta(n).get("name", "") for n in self.state.list("Namespace")}
        for kind in ("Service", "Pod", "DestinationRule", "PeerAuthentication"):
            names |= {meta(o).get("namespace", "") for o in self.state.list(kind)}
        return {n for n in names if n}

    def workload_labels(self, pod: Obj) -> dict[str, str]:
        """Pod labels plus its node's topology labels, as istiod matches subsets."""
        out = labels(pod)
        node = (pod.get("spec") or {}).get("nodeName")
        for key in TOPOLOGY_LABELS:
            value = self.node_labels.get(node or "", {}).get(key)
            if value:
                out.setdefault(key, value)
        return out

    def pods_selected(self, namespace: str, selector: dict[str, str]) -> list[Obj]:
        """Live pods whose labels match every (non-empty) selector value."""
        out = []
        for pod in self.state.list("Pod", namespace):
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                continue
            pod_labels = self.workload_labels(pod)
            if all(v != "" and pod_labels.get(k) == v for k, v in selector.items()):
                out.append(pod)
        return out
