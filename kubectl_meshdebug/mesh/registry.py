"""The service registry as a namespace sees it: Services and ServiceEntry hosts, exportTo.

Services export through the `networking.istio.io/exportTo` annotation, ServiceEntries
through `spec.exportTo`; `.` is the object's own namespace and `*` (the default) every
namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.kube.state import ClusterState, annotations, meta
from kubectl_meshdebug.mesh.hosts import host_matches

Obj = dict[str, Any]


@dataclass
class RegistryEntry:
    host: str  # FQDN or ServiceEntry host (may be a wildcard)
    namespace: str
    ports: list[dict[str, Any]]
    export: list[str]
    source: Obj
    selector: dict[str, str] = field(default_factory=dict)

    def visible_from(self, namespace: str) -> bool:
        for entry in self.export or ["*"]:
            entry = entry.strip()
            if entry == "*" or entry == namespace or (entry == "." and self.namespace == namespace):
                return True
        return False

    def has_port(self, number: int) -> bool:
        return any(int(p.get("number", p.get("port", -1)) or -1) == number for p in self.ports)


def build_registry(state: ClusterState) -> list[RegistryEntry]:
    out: list[RegistryEntry] = []
    for svc in state.list("Service"):
        m = meta(svc)
        export = annotations(svc).get("networking.istio.io/exportTo", "")
        spec = svc.get("spec") or {}
        out.append(RegistryEntry(
            f"{m.get('name')}.{m.get('namespace')}.svc.cluster.local", m.get("namespace", ""),
            list(spec.get("ports") or []), [e for e in export.split(",") if e.strip()], svc,
            dict(spec.get("selector") or {})))
    for se in state.list("ServiceEntry"):
        m = meta(se)
        spec = se.get("spec") or {}
        for host in spec.get("hosts") or []:
            out.append(RegistryEntry(str(host).lower(), m.get("namespace", ""),
                                     list(spec.get("ports") or []),
                                     list(spec.get("exportTo") or []), se))
    return out


def lookup(registry: list[RegistryEntry], host: str, namespace: str) -> list[RegistryEntry]:
    """Registry entries for a (resolved) host that `namespace` can see.

    A destination host matches an entry exactly, or falls under a wildcard ServiceEntry
    host; a wildcard destination host matches an identical wildcard entry.
    """
    found = []
    for entry in registry:
        if not entry.visible_from(namespace):
            continue
        if entry.host == host or (entry.host.startswith("*") and host_matches(entry.host, host)):
            found.append(entry)
    return found
