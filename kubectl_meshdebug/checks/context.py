"""What the object-only checks read: the cluster state, the mesh config, the registry.

Everything is derived lazily from the state, so a check that needs only Services never
makes the runner read Pods; the recording state lets a test see which kinds a check
really read, to hold it to what it declares.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from kubectl_meshdebug.kube.state import ClusterState, labels, meta
from kubectl_meshdebug.mesh.meshconfig import MeshConfig, load_mesh_config
from kubectl_meshdebug.mesh.registry import RegistryEntry, build_registry

Obj = dict[str, Any]
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "istio-system",
                     "local-path-storage"}
TOPOLOGY_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone",
                   "topology.istio.io/subzone", "kubernetes.io/hostname")


class RecordingState:
    """A ClusterState that notes every kind read through it."""

    def __init__(self, state: ClusterState, recorder: set[str]) -> None:
        self._state = state
        self.recorder = recorder

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        self.recorder.add(kind)
        return self._state.list(kind, namespace)

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        self.recorder.add(kind)
        return self._state.get(kind, namespace, name)

    def names(self, kind: str, namespace: str | None) -> list[str]:
        self.recorder.add(kind)
        return self._state.names(kind, namespace)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)


class AuditContext:
    def __init__(self, state: ClusterState, scope: str | None,
                 malformed: list[Any] | None = None) -> None:
        self.state = state
        self.scope = scope  # namespace the user asked about; None for -A
        self.malformed = list(malformed or [])  # kube.manifests.Malformed, left out of state

    @classmethod
    def build(cls, state: ClusterState, scope: str | None,
              malformed: list[Any] | None = None) -> AuditContext:
        return cls(state, scope, malformed)

    @cached_property
    def mesh(self) -> MeshConfig:
        return load_mesh_config(self.state)

    @cached_property
    def registry(self) -> list[RegistryEntry]:
        return build_registry(self.state)

    @cached_property
    def node_labels(self) -> dict[str, dict[str, str]]:
        return {str(meta(node).get("name", "")): labels(node) for node in self.state.list("Node")}

    def in_scope(self, obj: Obj) -> bool:
        return self.scope is None or meta(obj).get("namespace") == self.scope

    def list(self, kind: str) -> list[Obj]:
        return self.state.list(kind)

    def workload_labels(self, pod: Obj) -> dict[str, str]:
        """Pod labels plus its node's topology labels, as istiod matches subsets."""
        out = labels(pod)
        spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
        node = spec.get("nodeName")
        for key in TOPOLOGY_LABELS:
            value = self.node_labels.get(str(node or ""), {}).get(key)
            if value:
                out.setdefault(key, value)
        return out

    def pods_selected(self, namespace: str, selector: dict[str, str]) -> list[Obj]:
        """Live pods whose labels match every (non-empty) selector value."""
        out = []
        for pod in self.state.list("Pod", namespace):
            status = pod.get("status") if isinstance(pod.get("status"), dict) else {}
            if status.get("phase") in ("Succeeded", "Failed"):
                continue
            pod_labels = self.workload_labels(pod)
            if all(v != "" and pod_labels.get(k) == v for k, v in selector.items()):
                out.append(pod)
        return out
