"""AuthorizationPolicies that apply to nothing or name namespaces that do not exist
(istioctl's auth.AuthorizationPoliciesAnalyzer).

A policy whose selector matches no meshed pod (or a namespace-wide one in a namespace with
none) protects nothing: often a label typo, so the workload it was written for runs
without it. A `from.source.namespaces` entry naming no namespace can never match a caller.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.inventory import complete
from kubectl_meshdebug.kube.state import as_dict, full_name, labels, meta, ref
from kubectl_meshdebug.mesh.inmesh import in_ambient, template_in_mesh
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

AUTHZ_NO_WORKLOADS = FindingType(
    "authz-no-workloads", "warning",
    "An AuthorizationPolicy matches no workload in the mesh (IST0127, KIA0004)",
    kinds=("AuthorizationPolicy", "Pod", "Namespace", "ConfigMap"))

AUTHZ_NAMESPACE_NOT_FOUND = FindingType(
    "authz-namespace-not-found", "error",
    "An AuthorizationPolicy source names a namespace that does not exist (IST0101, KIA0101)",
    kinds=("AuthorizationPolicy", "Namespace"))




def namespace_matches(namespace: str, pattern: str) -> bool:
    """Istio's namespaceMatch: `*`, `*suffix`, `prefix*` or the name (any case)."""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return namespace.endswith(pattern[1:])
    if pattern.endswith("*"):
        return namespace.startswith(pattern[:-1])
    return namespace.lower() == pattern.lower()


def authz_policies(ctx: AuditContext) -> list[Finding]:
    namespaces = {str(meta(n).get("name")): n for n in ctx.list("Namespace")}
    namespaces_complete = complete(ctx, "Namespace")
    meshed: dict[str, list[dict[str, str]]] = {}
    for pod in ctx.list("Pod"):
        namespace = str(meta(pod).get("namespace") or "")
        found = meshed.setdefault(namespace, [])
        if template_in_mesh(pod, namespaces.get(namespace)) or in_ambient(pod):
            found.append(labels(pod))
    root = ctx.mesh.root_namespace
    findings: list[Finding] = []
    for policy in ctx.list("AuthorizationPolicy"):
        if not ctx.in_scope(policy):
            continue
        spec = as_dict(policy.get("spec"))
        namespace = str(meta(policy).get("namespace") or "")
        has_selector = "selector" in spec
        selector = {str(k): str(v) for k, v in
                    as_dict(as_dict(spec.get("selector")).get("matchLabels")).items()}
        text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pools = list(meshed.values()) if namespace == root else [meshed.get(namespace, [])]
        if not has_selector:  # mesh-wide always applies; namespace-wide needs a pod there
            applies = namespace == root or bool(meshed.get(namespace))
        else:
            applies = any(all(pod.get(k) == v for k, v in selector.items())
                          for pool in pools for pod in pool)
        if not applies:
            findings.append(AUTHZ_NO_WORKLOADS(
                f"AuthorizationPolicy {full_name(policy)} "
                + (f"selects {text or 'every pod'}, which no meshed pod"
                   + (" in the mesh" if namespace == root else f" in {namespace}") + " carries"
                   if has_selector else f"applies to namespace {namespace}, which has no "
                   "meshed pod")
                + ": it protects nothing",
                [Evidence(ref(policy), f"selector: {selector}" if has_selector
                          else "no selector (namespace-wide)")],
                fix="Match the labels of the workload it is for (kubectl get pods --show-labels)"
                    "; the workload must have a sidecar (or be in ambient) for it to apply.",
                resource=ref(policy)))
        for i, rule in enumerate(spec.get("rules") or []):
            for j, source in enumerate(as_dict(rule).get("from") or []):
                src = as_dict(as_dict(source).get("source"))
                for field in ("namespaces", "notNamespaces"):
                    for pattern in src.get(field) or []:
                        if not namespaces_complete or any(
                                namespace_matches(n, str(pattern)) for n in namespaces):
                            continue
                        findings.append(AUTHZ_NAMESPACE_NOT_FOUND(
                            f"AuthorizationPolicy {full_name(policy)} rule {i} names namespace "
                            f"{one_line(str(pattern))} in from.source.{field}, and no namespace "
                            "matches it",
                            [Evidence(ref(policy), f"rules[{i}].from[{j}].source.{field}: "
                                                   f"{one_line(str(pattern))}")],
                            fix="Fix the namespace name (or the pattern: `*`, `prefix*` or "
                                "`*suffix`).",
                            resource=ref(policy)))
    return findings
