"""Application containers running as UID 1337 (istioctl's applicationUID.Analyzer).

Istio's iptables rules let every packet from UID 1337 (the sidecar's own user) bypass the
redirect. An app running as 1337 leaves the pod without its sidecar: no mTLS, no routing,
no policy, no telemetry for its outbound calls.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import labels, meta, ref

Obj = dict[str, Any]

APP_UID_1337 = FindingType(
    "app-uid-1337", "warning",
    "An application runs as UID 1337, whose traffic the sidecar does not capture (IST0144)",
    kinds=("Pod", "Deployment"))

PROXY_UID = 1337
EXEMPT_CONTAINERS = ("istio-proxy", "istio-operator")


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _where_uid_1337(spec: Obj) -> list[str]:
    out = []
    if _dict(spec.get("securityContext")).get("runAsUser") == PROXY_UID:
        out.append("securityContext.runAsUser: 1337")
    for container in spec.get("containers") or []:
        container = _dict(container)
        if container.get("name") in EXEMPT_CONTAINERS:
            continue
        if _dict(container.get("securityContext")).get("runAsUser") == PROXY_UID:
            out.append(f"container {container.get('name')}: securityContext.runAsUser: 1337")
    return out


def app_uid(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    for kind in ("Pod", "Deployment"):
        for obj in ctx.list(kind):
            found = labels(obj)
            if not ctx.in_scope(obj) or "istio" in found or found.get("release") == "istio":
                continue  # Istio's own control plane and gateways
            spec = _dict(obj.get("spec"))
            if kind == "Deployment":
                spec = _dict(_dict(spec.get("template")).get("spec"))
            where = _where_uid_1337(spec)
            if not where:
                continue
            findings.append(APP_UID_1337(
                f"{kind} {meta(obj).get('namespace')}/{meta(obj).get('name')} runs "
                "application code as UID 1337, the sidecar's own user: Istio's iptables rules "
                "let its traffic bypass the sidecar",
                [Evidence(ref(obj), w) for w in where],
                fix="Run the application as another user (any UID but 1337).",
                resource=ref(obj)))
    return findings
