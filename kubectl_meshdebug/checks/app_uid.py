"""Application containers running as UID 1337 (istioctl's applicationUID.Analyzer).

Istio's iptables rules let every packet from UID 1337 (the sidecar's own user) bypass the
redirect. An app running as 1337 leaves the pod without its sidecar: no mTLS, no routing,
no policy, no telemetry for its outbound calls.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import as_dict, full_name, labels, ref

Obj = dict[str, Any]

APP_UID_1337 = FindingType(
    "app-uid-1337", "warning",
    "An application runs as UID 1337, whose traffic the sidecar does not capture (IST0144)",
    kinds=("Pod", "Deployment"))

PROXY_UID = 1337
EXEMPT_CONTAINERS = ("istio-proxy", "istio-operator")



def _where_uid_1337(spec: Obj) -> list[str]:
    out = []
    if as_dict(spec.get("securityContext")).get("runAsUser") == PROXY_UID:
        out.append("securityContext.runAsUser: 1337")
    for container in spec.get("containers") or []:
        container = as_dict(container)
        if container.get("name") in EXEMPT_CONTAINERS:
            continue
        if as_dict(container.get("securityContext")).get("runAsUser") == PROXY_UID:
            out.append(f"container {container.get('name')}: securityContext.runAsUser: 1337")
    return out


def app_uid(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    for kind in ("Pod", "Deployment"):
        for obj in ctx.list(kind):
            found = labels(obj)
            if not ctx.in_scope(obj) or "istio" in found or found.get("release") == "istio":
                continue  # Istio's own control plane and gateways
            spec = as_dict(obj.get("spec"))
            if kind == "Deployment":
                spec = as_dict(as_dict(spec.get("template")).get("spec"))
            where = _where_uid_1337(spec)
            if not where:
                continue
            findings.append(APP_UID_1337(
                f"{kind} {full_name(obj)} runs "
                "application code as UID 1337, the sidecar's own user: Istio's iptables rules "
                "let its traffic bypass the sidecar",
                [Evidence(ref(obj), w) for w in where],
                fix="Run the application as another user (any UID but 1337).",
                resource=ref(obj)))
    return findings
