"""Which DestinationRule, TLS mode and PeerAuthentication mode apply, as istiod decides.

DestinationRule lookup for a client in namespace C calling host H of a Service in S:
rules in C with a workloadSelector matching the client, then C, then S, then the root
namespace, each exported to C; inside a namespace the most specific host wins. The
rule's trafficPolicy (port-level, then subset-level override) replaces the mesh-wide
one, so a rule without `tls` leaves the client plaintext unless auto mTLS is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.kube.state import ClusterState, full_name, label_selector_matches, meta
from kubectl_meshdebug.mesh.hosts import exported_to, host_matches, resolve_host, specificity
from kubectl_meshdebug.mesh.meshconfig import MeshConfig

Obj = dict[str, Any]
TLS_MODES = {"DISABLE": "none", "SIMPLE": "simple", "MUTUAL": "mutual",
             "ISTIO_MUTUAL": "istio-mutual"}


def dr_host(dr: Obj) -> str:
    return resolve_host(str((dr.get("spec") or {}).get("host", "")), meta(dr).get("namespace", ""))


def _selector_labels(obj: Obj) -> dict[str, str] | None:
    spec = obj.get("spec") or {}
    sel = spec.get("workloadSelector") or spec.get("selector")
    if sel is None:
        return None
    return dict(sel.get("matchLabels") or sel.get("labels") or {})


def find_destination_rule(
    state: ClusterState, mesh: MeshConfig, fqdn: str, client_ns: str,
    client_labels: dict[str, str] | None = None, service_ns: str | None = None,
) -> Obj | None:
    drs = state.list("DestinationRule")
    order: list[tuple[str, bool]] = [(client_ns, True), (client_ns, False)]
    if service_ns:
        order.append((service_ns, False))
    order.append((mesh.root_namespace, False))
    seen: set[tuple[str, bool]] = set()
    for ns, with_selector in order:
        if (ns, with_selector) in seen:
            continue
        seen.add((ns, with_selector))
        candidates = []
        for dr in drs:
            if meta(dr).get("namespace") != ns:
                continue
            selector = _selector_labels(dr)
            if with_selector:
                if selector is None or client_labels is None or not label_selector_matches(
                    {"matchLabels": selector}, client_labels):
                    continue
            elif selector is not None:
                continue
            if ns != client_ns and not exported_to(dr, client_ns):
                continue
            host = dr_host(dr)
            if host_matches(host, fqdn):
                candidates.append((specificity(host), meta(dr).get("creationTimestamp") or "",
                                   meta(dr).get("name", ""), dr))
        if candidates:
            candidates.sort(key=lambda c: (c[0], c[1], c[2]))
            return candidates[0][3]
    return None


def effective_traffic_policy(dr: Obj, port: int | None, subset: str = "") -> dict[str, Any]:
    """The DR's trafficPolicy with port-level and then subset-level settings applied."""
    spec = dr.get("spec") or {}
    policy = dict(spec.get("trafficPolicy") or {})
    policy = _apply_port_level(policy, port)
    if subset:
        for s in spec.get("subsets") or []:
            if s.get("name") == subset and s.get("trafficPolicy"):
                sub = dict(s["trafficPolicy"])
                sub_port = _apply_port_level(sub, port)
                policy = {**policy, **{k: v for k, v in sub_port.items()
                                       if k != "portLevelSettings"}}
    return policy


def _apply_port_level(policy: dict[str, Any], port: int | None) -> dict[str, Any]:
    out = {k: v for k, v in policy.items() if k != "portLevelSettings"}
    for pls in policy.get("portLevelSettings") or []:
        if port is not None and (pls.get("port") or {}).get("number") == port:
            out.update({k: v for k, v in pls.items() if k != "port"})
    return out


@dataclass
class ExpectedTls:
    mode: str  # none | simple | mutual | istio-mutual | auto
    reason: str
    source: str = ""
    evidence: list[str] = field(default_factory=list)


def expected_client_tls(dr: Obj | None, mesh: MeshConfig, port: int | None,
                        subset: str = "") -> ExpectedTls:
    if dr is not None:
        policy = effective_traffic_policy(dr, port, subset)
        tls = policy.get("tls") or {}
        mode = tls.get("mode")
        name = f"DestinationRule {full_name(dr)}"
        if mode:
            return ExpectedTls(TLS_MODES.get(str(mode), str(mode).lower()),
                               f"{name} sets tls.mode {mode}", name)
        if mesh.auto_mtls:
            return ExpectedTls("auto", f"{name} has no tls; auto mTLS is on ({mesh.source})", name)
        return ExpectedTls("none", f"{name} has no tls block and auto mTLS is off, so its "
                           "trafficPolicy replaces the mesh-wide ISTIO_MUTUAL", name)
    if mesh.auto_mtls:
        return ExpectedTls("auto", f"no DestinationRule; auto mTLS is on ({mesh.source})")
    return ExpectedTls("none", "no DestinationRule and auto mTLS is off")


def tls_agrees(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    return expected == "auto" and actual == "istio-mutual"


# PeerAuthentication ------------------------------------------------------------------------

@dataclass
class PeerAuthMode:
    mode: str  # STRICT | PERMISSIVE | DISABLE
    source: str


@dataclass
class MergedPeerAuthentication:
    """A workload's PeerAuthentications composed as istiod composes them
    (pilot/pkg/security/authn ComposePeerAuthentication): the oldest mesh-wide, namespace
    and workload policy each, later levels overriding earlier ones unless UNSET, and
    port-level modes taken from the workload policy alone."""

    mode: str = "PERMISSIVE"
    mode_source: str = "no PeerAuthentication (Istio's default)"
    per_port: dict[int, str] = field(default_factory=dict)
    per_port_source: str = ""
    applied: list[str] = field(default_factory=list)  # NAMESPACE/NAME, as istioctl lists them

    def for_port(self, port: int | None) -> PeerAuthMode:
        if port is not None and port in self.per_port:
            return PeerAuthMode(self.per_port[port], f"{self.per_port_source} (port {port})")
        return PeerAuthMode(self.mode, self.mode_source)


def _set_mode(mtls: Any) -> str | None:
    mode = (mtls or {}).get("mode") if isinstance(mtls, dict) else None
    return None if mode in (None, "", "UNSET") else str(mode)


def oldest_first(objs: list[Obj]) -> list[Obj]:
    """Objects in the order istiod settles conflicts between them: the oldest wins (by
    creationTimestamp, then name)."""
    return sorted(objs, key=lambda o: (meta(o).get("creationTimestamp") or "",
                                       meta(o).get("name") or ""))


def merged_peer_authentication(state: ClusterState, mesh: MeshConfig, namespace: str,
                               pod_labels: dict[str, str]) -> MergedPeerAuthentication:
    """The PeerAuthentications that apply to a workload with `pod_labels` in `namespace`
    (those of its namespace and the root namespace whose selector matches or is empty),
    and the mode they make, per port where the workload policy sets one."""
    applied: list[Obj] = []
    for pa in state.list("PeerAuthentication"):
        if meta(pa).get("namespace") not in (mesh.root_namespace, namespace):
            continue
        selector = _selector_labels(pa) or {}
        if label_selector_matches({"matchLabels": selector}, pod_labels):
            applied.append(pa)
    oldest: dict[str, Obj] = {}
    for pa in oldest_first(applied):
        pa_ns = meta(pa).get("namespace")
        if not _selector_labels(pa):
            level = "mesh" if pa_ns == mesh.root_namespace else "namespace"
        elif pa_ns != mesh.root_namespace:
            level = "workload"
        else:
            continue  # a selector in the root namespace selects nothing (Istio ignores it)
        oldest.setdefault(level, pa)
    merged = MergedPeerAuthentication(
        applied=[full_name(pa) for pa in applied])
    for level in ("mesh", "namespace", "workload"):
        pa = oldest.get(level)
        mode = _set_mode((pa or {}).get("spec", {}).get("mtls")) if pa else None
        if pa is not None and mode is not None:
            merged.mode = mode
            merged.mode_source = (f"PeerAuthentication {meta(pa).get('namespace')}/"
                                  f"{meta(pa).get('name')}")
    workload = oldest.get("workload")
    if workload is not None:
        merged.per_port_source = (f"PeerAuthentication {meta(workload).get('namespace')}/"
                                  f"{meta(workload).get('name')}")
        for key, value in ((workload.get("spec") or {}).get("portLevelMtls") or {}).items():
            if str(key).isdecimal():
                merged.per_port[int(key)] = _set_mode(value) or merged.mode
    return merged


def peer_auth_mode(state: ClusterState, mesh: MeshConfig, namespace: str,
                   pod_labels: dict[str, str], port: int | None = None) -> PeerAuthMode:
    """The server side's mTLS mode on a port (a container port): the workload policy's
    port-level mode, else the composed workload, namespace or mesh mode."""
    return merged_peer_authentication(state, mesh, namespace, pod_labels).for_port(port)


def workload_policies(state: ClusterState, root_namespace: str, namespace: str,
                      pod_labels: dict[str, str], kind: str) -> list[Obj]:
    """The AuthorizationPolicies or RequestAuthentications that apply to a workload: those
    of its namespace and the root namespace whose selector is absent or matches its labels
    (policies that name a targetRef apply to gateways and waypoints, not sidecars)."""
    out = []
    for obj in state.list(kind):
        if meta(obj).get("namespace") not in (namespace, root_namespace):
            continue
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        if spec.get("targetRef") or spec.get("targetRefs"):
            continue
        selector = _selector_labels(obj) or {}
        if label_selector_matches({"matchLabels": selector}, pod_labels):
            out.append(obj)
    return out
