"""Sidecar resources istiod cannot apply as written (istioctl's sidecar.SelectorAnalyzer).

A pod gets one Sidecar resource: its namespace's one without a workload selector, or the
one whose selector matches it. With two selectors matching a pod, or two selector-less
Sidecars in a namespace, istiod picks one by age and the other's egress and ingress rules
silently do nothing; a selector that matches no pod in the namespace applies to nothing.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.selectors import selector_text
from kubectl_meshdebug.kube.state import full_name, labels, meta, ref, selects
from kubectl_meshdebug.mesh.commands import kubectl_hint
from kubectl_meshdebug.mesh.hosts import resolve_host
from kubectl_meshdebug.mesh.inmesh import in_ambient
from kubectl_meshdebug.mesh.registry import lookup
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

SIDECAR_SELECTOR_NO_PODS = FindingType(
    "sidecar-selector-no-pods", "error",
    "A Sidecar's workloadSelector matches no pod in its namespace (IST0101, KIA0004)",
    kinds=("Sidecar", "Pod"))

SIDECAR_SELECTOR_CONFLICT = FindingType(
    "sidecar-selector-conflict", "error",
    "Several Sidecars select the same pod: only one applies (IST0110, KIA0003)",
    kinds=("Sidecar", "Pod"))

SIDECAR_MULTIPLE_DEFAULTS = FindingType(
    "sidecar-multiple-defaults", "error",
    "Several Sidecars in one namespace have no workloadSelector: only one applies "
    "(IST0111, KIA0002)",
    kinds=("Sidecar", "Namespace"))

SIDECAR_IN_AMBIENT = FindingType(
    "sidecar-in-ambient", "warning",
    "A Sidecar applies to ambient workloads, which have no sidecar (IST0167)",
    kinds=("Sidecar", "Pod", "Namespace"))

SIDECAR_ROOT_SELECTOR = FindingType(
    "sidecar-root-selector", "warning",
    "A Sidecar in the root namespace has a workloadSelector (KIA1006)",
    kinds=("Sidecar", "ConfigMap"))

SIDECAR_EGRESS_HOST_NOT_FOUND = FindingType(
    "sidecar-egress-host-not-found", "warning",
    "A Sidecar's egress host matches no Service or ServiceEntry (KIA1004)",
    kinds=("Sidecar", "Service", "ServiceEntry"))


def _selector(sidecar: Obj) -> dict[str, str]:
    spec = sidecar.get("spec") if isinstance(sidecar.get("spec"), dict) else {}
    selector = spec.get("workloadSelector")
    found = selector.get("labels") if isinstance(selector, dict) else None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def namespace_in_ambient(namespace: Obj | None) -> bool:
    """Istio's NamespaceInAmbientMode: dataplane-mode ambient, and no injection label."""
    found = labels(namespace)
    if found.get("istio-injection") == "enabled" or found.get("istio.io/rev"):
        return False
    return found.get("istio.io/dataplane-mode") == "ambient"


def _names(sidecars: list[Obj]) -> str:
    return ", ".join(sorted(full_name(s)
                            for s in sidecars))


def sidecar_selectors(ctx: AuditContext) -> list[Finding]:
    """All four of Istio's SelectorAnalyzer messages, from one pass over the Sidecars."""
    findings: list[Finding] = []
    by_pod: dict[tuple[str, str], list[Obj]] = {}
    pods: dict[tuple[str, str], Obj] = {}
    defaults: dict[str, list[Obj]] = {}
    for sidecar in ctx.list("Sidecar"):
        namespace = str(meta(sidecar).get("namespace") or "")
        selector = _selector(sidecar)
        if not selector:
            defaults.setdefault(namespace, []).append(sidecar)
            continue
        matched = [p for p in ctx.list("Pod") if meta(p).get("namespace") == namespace
                   and selects(selector, p)]
        for pod in matched:
            key = (namespace, str(meta(pod).get("name")))
            by_pod.setdefault(key, []).append(sidecar)
            pods[key] = pod
        if not matched and ctx.in_scope(sidecar):
            findings.append(SIDECAR_SELECTOR_NO_PODS(
                f"Sidecar {namespace}/{meta(sidecar).get('name')} selects "
                f"{selector_text(selector)}, which no pod in {namespace} carries: its egress "
                "and ingress rules apply to nothing",
                [Evidence(ref(sidecar), f"workloadSelector.labels: {selector}")],
                fix="Fix the labels, or create the Sidecar in the pods' namespace:\n  "
                    + kubectl_hint("get", "pods", "-n", namespace, "-l",
                                   selector_text(selector)),
                resource=ref(sidecar)))
    namespaces = {str(meta(n).get("name")): n for n in ctx.list("Namespace")}
    reported: set[str] = set()
    for (namespace, name), sidecars in sorted(by_pod.items()):
        ambient = in_ambient(pods[(namespace, name)])
        if len(sidecars) == 1 and not ambient:
            continue
        for sidecar in sidecars:
            if not ctx.in_scope(sidecar) or ref(sidecar) in reported:
                continue
            reported.add(ref(sidecar))
            findings.append(_ambient(sidecar, f"pod {namespace}/{name}") if ambient else
                            SIDECAR_SELECTOR_CONFLICT(
                f"pod {namespace}/{name} is selected by Sidecars {_names(sidecars)}: istiod "
                "applies only the oldest, the others' rules do nothing for it",
                [Evidence(ref(s), f"workloadSelector.labels: {_selector(s)}")
                 for s in sidecars],
                fix="Make the selectors disjoint, or merge the Sidecars into one.",
                resource=ref(sidecar)))
    for namespace, sidecars in sorted(defaults.items()):
        if namespace_in_ambient(namespaces.get(namespace)):
            findings += [_ambient(s, f"namespace {namespace}") for s in sidecars
                         if ctx.in_scope(s) and ref(s) not in reported]
            continue
        if len(sidecars) < 2:
            continue
        findings += [SIDECAR_MULTIPLE_DEFAULTS(
            f"namespace {namespace} has Sidecars without a workloadSelector "
            f"{_names(sidecars)}: istiod applies only the oldest to the namespace",
            [Evidence(ref(s), "no workloadSelector") for s in sidecars],
            fix="Keep one Sidecar without a selector per namespace; give the others a "
                "workloadSelector.",
            resource=ref(sidecar)) for sidecar in sidecars if ctx.in_scope(sidecar)]
    return findings


def _ambient(sidecar: Obj, where: str) -> Finding:
    return SIDECAR_IN_AMBIENT(
        f"Sidecar {full_name(sidecar)} applies to "
        f"{where}, which is in ambient mode: there is no sidecar, the policy has no effect",
        [Evidence(ref(sidecar), "applies to an ambient workload")],
        fix="Delete the Sidecar, or take the workload out of ambient mode if it should have "
            "a sidecar.",
        resource=ref(sidecar))


def sidecar_root_selectors(ctx: AuditContext) -> list[Finding]:
    """Kiali's GlobalChecker. A Sidecar in the root namespace is the mesh's default only
    without a selector; with one it applies to the root namespace's own pods that match
    (usually none), not to the mesh."""
    findings = []
    root = ctx.mesh.root_namespace
    for sidecar in ctx.list("Sidecar"):
        if meta(sidecar).get("namespace") != root or not _selector(sidecar) \
                or not ctx.in_scope(sidecar):
            continue
        findings.append(SIDECAR_ROOT_SELECTOR(
            f"{ref(sidecar)} is in the root namespace {root} but has a workloadSelector "
            f"({one_line(selector_text(_selector(sidecar)))}): it is not the mesh-wide default, "
            f"and applies only to matching pods in {root}",
            [Evidence(ref(sidecar), f"workloadSelector.labels: {_selector(sidecar)}")],
            fix="Remove the workloadSelector to make it the mesh's default, or create it in "
                "the namespace of the workloads it is for.",
            resource=ref(sidecar)))
    return findings


def sidecar_egress_hosts(ctx: AuditContext) -> list[Finding]:
    """Kiali's EgressHostChecker: an egress `NAMESPACE/HOST` naming a host no Service or
    ServiceEntry visible to the Sidecar has. It imports nothing; if it was meant to
    import a real service, the proxies cannot reach that service (404 NR, or
    BlackHole/PassthroughCluster)."""
    findings = []
    for sidecar in ctx.list("Sidecar"):
        if not ctx.in_scope(sidecar):
            continue
        namespace = str(meta(sidecar).get("namespace") or "")
        spec = sidecar.get("spec") if isinstance(sidecar.get("spec"), dict) else {}
        for i, egress in enumerate(spec.get("egress") or []):
            hosts = egress.get("hosts") if isinstance(egress, dict) else None
            for j, host in enumerate(hosts if isinstance(hosts, list) else []):
                host_ns, sep, name = str(host).partition("/")
                if not sep or "*" in name:
                    continue
                base = namespace if host_ns in ("*", "~", ".") else host_ns
                fqdn = resolve_host(name, base)
                if lookup(ctx.registry, fqdn, namespace):
                    continue
                findings.append(SIDECAR_EGRESS_HOST_NOT_FOUND(
                    f"{ref(sidecar)} egress imports {one_line(str(host))!r}, and no Service or "
                    f"ServiceEntry visible from {namespace} is {fqdn}: the entry imports nothing",
                    [Evidence(ref(sidecar), f"egress[{i}].hosts[{j}]: {one_line(str(host))}")],
                    fix="Name an existing host as NAMESPACE/FQDN (e.g. "
                        "bookinfo/reviews.bookinfo.svc.cluster.local), or `NAMESPACE/*`.",
                    resource=ref(sidecar)))
    return findings
