"""Put a lab scenario into the test API server, so that it runs exactly as in a cluster.

The lab's objects (`LabMesh.manifests()`) are created through the API, as `kubectl apply`
would; pods are bound to the lab node and their status written as a kubelet would:
Running, Ready, the pod IP the lab's Envoy listens on. The node then maps exec, logs and
port-forward of the istio-proxy container to that Envoy. Endpoints are left out: the
API server rejects loopback addresses in them (and no controller would make them here).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubectl_meshdebug.lab.mesh import LabMesh
from tests.cluster.controlplane import NODE, ControlPlane

# What one scenario may leave behind that the next must not see.
SCENARIO_KINDS = ["Pod", "Service", "DestinationRule", "VirtualService", "ServiceEntry",
                  "Sidecar", "PeerAuthentication", "Gateway", "Event", "ReplicaSet",
                  "Deployment", "EnvoyFilter", "AuthorizationPolicy"]
LOG_ANNOTATION = "lab.meshdebug.io/log-file"
PROGRAMS_ANNOTATION = "lab.meshdebug.io/programs"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_status(pod: dict[str, Any]) -> dict[str, Any]:
    """The status a kubelet writes for a started, ready pod."""
    ip = (pod.get("status") or {}).get("podIP", "")
    now = _now()
    containers = (pod.get("spec") or {}).get("containers") or []
    ready = all(c.get("status") == "True" for c in (pod.get("status") or {}).get(
        "conditions") or [{"status": "True"}])
    phase = (pod.get("status") or {}).get("phase", "Running")
    return {
        "phase": phase, "podIP": ip, "podIPs": [{"ip": ip}] if ip else [],
        "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}], "startTime": now,
        "conditions": [{"type": t, "status": "True" if ready or t == "PodScheduled" else "False",
                        "lastTransitionTime": now}
                       for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        "containerStatuses": [{
            "name": c["name"], "image": c.get("image", ""), "imageID": "",
            "containerID": f"containerd://{pod['metadata']['name']}-{c['name']}",
            "ready": ready, "started": phase == "Running", "restartCount": 0,
            "state": {"running": {"startedAt": now}} if phase == "Running" else
            {"waiting": {"reason": "ContainerCreating"}},
        } for c in containers],
    }


class LabCluster:
    """Loads LabMeshes into one control plane, one at a time."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.namespaces: set[str] = {"istio-system"}

    @property
    def api(self):  # noqa: ANN201 - KubeApi
        assert self.cp.api is not None
        return self.cp.api

    def clear(self, keep_pods: set[tuple[str, str]] = frozenset()) -> None:
        """Remove every object an earlier scenario put in (but the pods in keep_pods)."""
        for namespace in sorted(self.namespaces):
            for kind in SCENARIO_KINDS:
                for item in self.api.list(kind, namespace):
                    name = item["metadata"]["name"]
                    if kind == "Pod" and (namespace, name) in keep_pods:
                        continue
                    if ((item["metadata"].get("labels") or {}).get("app") == "istiod"
                            and namespace == "istio-system"):
                        continue  # the real mesh's istiod (istiomesh.py) outlives scenarios
                    self.api.delete(kind, namespace, name)
        self.api.delete("ConfigMap", "istio-system", "istio")
        for hook in self.api.list("MutatingWebhookConfiguration"):
            self.api.delete("MutatingWebhookConfiguration", None, hook["metadata"]["name"])

    def load(self, mesh: LabMesh, *, user_namespaces: tuple[str, ...] = ("foo",),
             extra: list[dict[str, Any]] | None = None,
             programs: dict[str, str] | None = None) -> None:
        """Create the mesh's objects. `programs` maps a pod name to the programs its
        istio-proxy image holds (default pilot-agent and curl)."""
        self.clear()
        objects = [copy.deepcopy(o) for o in mesh.manifests() + list(extra or [])
                   if o.get("kind") != "Endpoints"]
        self.create_objects(objects, user_namespaces=user_namespaces,
                            create_pod=lambda pod: self._create_pod(
                                mesh, pod, (programs or {}).get(pod["metadata"]["name"])))

    def create_objects(self, objects: list[dict[str, Any]], *,
                       user_namespaces: tuple[str, ...] = ("foo",),
                       create_pod: Any = None) -> None:
        """Namespaces first (with the users' rights where asked), then the rest, as
        `kubectl apply` of the whole list would; pods through create_pod."""
        for obj in objects:
            if obj["kind"] == "Namespace":
                name = obj["metadata"]["name"]
                self.cp.ensure_namespace(name, obj["metadata"].get("labels") or {},
                                         grant_users=name in user_namespaces)
                self.namespaces.add(name)
        for obj in objects:
            ns = obj["metadata"].get("namespace")
            if ns and ns not in self.namespaces:
                self.cp.ensure_namespace(ns, grant_users=ns in user_namespaces)
                self.namespaces.add(ns)
        for obj in objects:
            kind = obj["kind"]
            if kind == "Namespace":
                continue
            if kind == "Pod":
                create_pod(obj)
            elif kind == "ConfigMap":
                self.api.replace(obj)
            else:
                self.api.create(obj)

    def _create_pod(self, mesh: LabMesh, pod: dict[str, Any], programs: str | None) -> None:
        meta = pod["metadata"]
        status = pod.pop("status", {})
        meta.pop("creationTimestamp", None)
        spec = pod.setdefault("spec", {})
        spec["nodeName"] = NODE
        self.cp.ensure_service_account(meta["namespace"], spec.get("serviceAccountName",
                                                                   "default"))
        annotations = meta.setdefault("annotations", {})
        envoy = mesh.envoys.get(meta["name"])
        if envoy is not None:
            annotations[LOG_ANNOTATION] = str(envoy.log_path)
        if programs is not None:
            annotations[PROGRAMS_ANNOTATION] = programs
        self.api.create(pod)
        self.api.patch_status("Pod", meta["namespace"], meta["name"],
                              pod_status(dict(pod, status=status)))

    def set_programs(self, namespace: str, pod: str, programs: str | None) -> None:
        """What the pod's istio-proxy image holds from now on (None: the default)."""
        obj = self.api.get("Pod", namespace, pod)
        annotations = obj["metadata"].setdefault("annotations", {})
        if programs is None:
            annotations.pop(PROGRAMS_ANNOTATION, None)
        else:
            annotations[PROGRAMS_ANNOTATION] = programs
        self.api.request("PUT", self.api.path("Pod", namespace, pod), obj)
