"""Routing on JWT claims at a gateway with no RequestAuthentication (istioctl's
virtualservice.JWTClaimRouteAnalyzer).

A VirtualService match on `@request.auth.claims...` only works where a
RequestAuthentication validates the token first; without one the claims are never set, so
the route never matches (or, on withoutHeaders, always does).
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.gateways import gateway_workloads
from kubectl_meshdebug.kube.state import as_dict, full_name, meta, ref, selects
from kubectl_meshdebug.mesh.virtualservice import gateways

Obj = dict[str, Any]

JWT_CLAIM_ROUTE_WITHOUT_AUTHN = FindingType(
    "jwt-claim-route-without-authn", "error",
    "A VirtualService routes on JWT claims at a gateway with no RequestAuthentication "
    "(IST0149)",
    kinds=("VirtualService", "Gateway", "Pod", "Service", "RequestAuthentication"))

CLAIM_PREFIX = "@request.auth.claims"



def is_claim_header(name: str) -> bool:
    """Istio's jwt.ToRoutingClaim(...).Match: `.a.b` or `[a][b]` after the prefix."""
    if not name.lower().startswith(CLAIM_PREFIX):
        return False
    rest = name[len(CLAIM_PREFIX):]
    return (rest.startswith(".") and len(rest) > 1) or (
        rest.startswith("[") and rest.endswith("]") and len(rest) > 2)


def claim_key(vs: Obj) -> str:
    for route in as_dict(vs.get("spec")).get("http") or []:
        for match in as_dict(route).get("match") or []:
            for field in ("headers", "withoutHeaders"):
                for key in as_dict(as_dict(match).get(field)):
                    if is_claim_header(str(key)):
                        return str(key)
    return ""


def jwt_claim_routes(ctx: AuditContext) -> list[Finding]:
    authn: dict[str, list[dict[str, str]]] = {}
    for policy in ctx.list("RequestAuthentication"):
        selector = as_dict(as_dict(as_dict(policy.get("spec")).get("selector")).get("matchLabels"))
        authn.setdefault(str(meta(policy).get("namespace")), []).append(
            {str(k): str(v) for k, v in selector.items()})
    by_name = {(str(meta(g).get("namespace")), str(meta(g).get("name"))): g
               for g in ctx.list("Gateway")}
    root = ctx.state.istio_namespace
    pods = gateway_workloads(ctx)[0]
    findings: list[Finding] = []
    for vs in ctx.list("VirtualService"):
        key = claim_key(vs)
        if not key or not ctx.in_scope(vs):
            continue
        namespace = str(meta(vs).get("namespace") or "")
        for name in gateways(vs):
            if name == "mesh":
                continue
            gw_ns, slash, gw_name = name.partition("/")
            gateway = by_name.get((gw_ns, gw_name) if slash else (namespace, name))
            if gateway is None:
                continue
            selector = {str(k): str(v) for k, v in
                        as_dict(as_dict(gateway.get("spec")).get("selector")).items()}
            for pod in pods:
                if not selects(selector, pod):
                    continue
                policies = authn.get(root, []) + authn.get(str(meta(pod).get("namespace")), [])
                if any(selects(s, pod) for s in policies):
                    continue
                findings.append(JWT_CLAIM_ROUTE_WITHOUT_AUTHN(
                    f"VirtualService {namespace}/{meta(vs).get('name')} routes on {key} at "
                    f"Gateway {full_name(gateway)}, but "
                    f"no RequestAuthentication applies to its pod "
                    f"{full_name(pod)}: the claim is never "
                    "set, so the route never matches",
                    [Evidence(ref(vs), f"match on {key}"), Evidence(ref(pod), "no "
                                                                     "RequestAuthentication")],
                    fix="Apply a RequestAuthentication (with the token's issuer and jwksUri) to "
                        "the gateway's pods.",
                    resource=ref(vs)))
    return findings
