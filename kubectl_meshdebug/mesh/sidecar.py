"""Sidecar resources: whether a client's egress listing lets it see a host at all."""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.kube.state import ClusterState, labels, meta
from kubectl_meshdebug.mesh.hosts import host_matches

Obj = dict[str, Any]


def egress_hosts(sidecar: Obj) -> list[str]:
    return [str(h) for e in (sidecar.get("spec") or {}).get("egress") or []
            for h in e.get("hosts") or []]


def egress_allows(sidecar: Obj, host: str, host_namespace: str | None) -> bool:
    """`ns/dnsName` entries: ns is a namespace, `.` (the Sidecar's own) or `*`/`~`."""
    own = meta(sidecar).get("namespace")
    for entry in egress_hosts(sidecar):
        ns, _, name = entry.partition("/")
        if not name:
            ns, name = "*", entry
        if ns == "~":
            continue
        if ns == "." and host_namespace != own:
            continue
        if ns not in ("*", ".") and ns != host_namespace:
            continue
        if host_matches(name, host):
            return True
    return False


def applicable_sidecar(state: ClusterState, root_ns: str, pod: Obj) -> Obj | None:
    ns = meta(pod).get("namespace")
    pod_labels = labels(pod)
    sidecars = state.list("Sidecar", ns)
    for sc in sidecars:
        selector = ((sc.get("spec") or {}).get("workloadSelector") or {}).get("labels")
        if selector and all(pod_labels.get(k) == v for k, v in selector.items()):
            return sc
    for sc in sidecars:
        if not (sc.get("spec") or {}).get("workloadSelector"):
            return sc
    for sc in state.list("Sidecar", root_ns):
        if not (sc.get("spec") or {}).get("workloadSelector"):
            return sc
    return None
