"""Client TLS (DestinationRules) that disagrees with what servers accept (PeerAuthentication).

Two ways to break every call with 503s: clients told to send plaintext (`tls.mode:
DISABLE`, or a DestinationRule with no `tls` block replacing a mesh-wide ISTIO_MUTUAL
when auto mTLS is off) to servers whose PeerAuthentication is STRICT; or servers told to
accept only plaintext (`DISABLE`) while the DestinationRules send ISTIO_MUTUAL.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding
from kubectl_meshdebug.checks.registry import CheckInfo, audit_check
from kubectl_meshdebug.kube.state import meta, ref
from kubectl_meshdebug.mesh import policy

Obj = dict[str, Any]
MESH_WIDE_HOSTS = {"*", "*.local", "*.cluster.local", "*.svc.cluster.local"}


def _mode(dr: Obj) -> str | None:
    tls = ((dr.get("spec") or {}).get("trafficPolicy") or {}).get("tls") or {}
    return tls.get("mode")


def _namespace_of_wide_host(host: str) -> str | None:
    """`*.bookinfo.svc.cluster.local` -> bookinfo."""
    if host.startswith("*.") and host.endswith(".svc.cluster.local"):
        middle = host[2:-len(".svc.cluster.local")]
        if middle and "." not in middle:
            return middle
    return None


def _scope_pa(ctx: AuditContext, namespace: str | None) -> Obj | None:
    """The namespace-wide (or, for None, mesh-wide) PeerAuthentication."""
    target = namespace or ctx.mesh.root_namespace
    for pa in ctx.list("PeerAuthentication"):
        spec = pa.get("spec") or {}
        if meta(pa).get("namespace") == target and not spec.get("selector"):
            return pa
    return None


def _pa_mode(pa: Obj | None) -> str | None:
    mode = (((pa or {}).get("spec") or {}).get("mtls") or {}).get("mode")
    return None if mode in (None, "UNSET") else mode


def _effective_server_mode(ctx: AuditContext, namespace: str | None) -> tuple[str, Obj | None]:
    """Mode for servers in a namespace: its own PA, else the mesh's, else PERMISSIVE."""
    if namespace:
        pa = _scope_pa(ctx, namespace)
        if _pa_mode(pa):
            return str(_pa_mode(pa)), pa
    pa = _scope_pa(ctx, None)
    return (str(_pa_mode(pa)), pa) if _pa_mode(pa) else ("PERMISSIVE", None)


def _wide_dr(ctx: AuditContext, namespace: str | None) -> Obj | None:
    """The DestinationRule that sets TLS for a whole namespace (or the mesh)."""
    drs = ctx.list("DestinationRule")
    if namespace:
        for dr in drs:
            if _namespace_of_wide_host(policy.dr_host(dr)) == namespace and _mode(dr):
                return dr
    for dr in sorted(drs, key=lambda d: meta(d).get("namespace") != ctx.mesh.root_namespace):
        if policy.dr_host(dr) in MESH_WIDE_HOSTS and _mode(dr):
            return dr
    return None


@audit_check(CheckInfo("tls-mode-mismatch",
                       "Clients' TLS mode (DestinationRule) contradicts servers' "
                       "PeerAuthentication", ("DestinationRule", "PeerAuthentication"),
                       audit=True))
def tls_mode_mismatch(ctx: AuditContext) -> list[Finding]:
    findings = []
    # clients sent plaintext where servers require mTLS
    for dr in ctx.list("DestinationRule"):
        if not ctx.in_scope(dr) or _mode(dr) != "DISABLE":
            continue
        host = policy.dr_host(dr)
        if host in MESH_WIDE_HOSTS:
            server_ns = None
        elif _namespace_of_wide_host(host):
            server_ns = _namespace_of_wide_host(host)
        else:
            svc = next((e for e in ctx.registry if e.host == host), None)
            server_ns = svc.namespace if svc else None
            if svc is None:
                continue
        mode, pa = _effective_server_mode(ctx, server_ns)
        if mode != "STRICT":
            continue
        findings.append(Finding(
            "tls-mode-mismatch", "error",
            f"DestinationRule {meta(dr).get('namespace')}/{meta(dr).get('name')} makes clients "
            f"send plaintext to {host}, but {ref(pa)} requires mTLS (STRICT): every call is "
            "reset by the server sidecar (503 UC)",
            [Evidence(ref(dr), "trafficPolicy.tls.mode: DISABLE"),
             Evidence(ref(pa), "mtls.mode: STRICT")],
            fix="Remove tls.mode DISABLE (or use ISTIO_MUTUAL), or make the servers "
                "PERMISSIVE with a PeerAuthentication if they must accept plaintext.",
            resource=ref(dr), explains=3))
    # servers accept only plaintext where clients send mTLS
    for pa in ctx.list("PeerAuthentication"):
        spec = pa.get("spec") or {}
        if not ctx.in_scope(pa) or spec.get("selector") or _pa_mode(pa) != "DISABLE":
            continue
        namespace = meta(pa).get("namespace")
        mesh_wide = namespace == ctx.mesh.root_namespace
        dr = _wide_dr(ctx, None if mesh_wide else namespace)
        if dr is None or _mode(dr) not in ("ISTIO_MUTUAL", "MUTUAL"):
            continue
        scope = "the mesh" if mesh_wide else f"namespace {namespace}"
        findings.append(Finding(
            "tls-mode-mismatch", "error",
            f"PeerAuthentication {namespace}/{meta(pa).get('name')} disables mTLS for {scope}, "
            f"but {ref(dr)} still makes clients send {_mode(dr)}: servers reject the TLS "
            "handshake (503 UF)",
            [Evidence(ref(pa), "mtls.mode: DISABLE"),
             Evidence(ref(dr), f"host {(dr.get('spec') or {}).get('host')}: tls.mode "
                               f"{_mode(dr)}")],
            fix=(f"Add a DestinationRule with tls.mode DISABLE for {scope}, e.g.\n"
                 f"  spec:\n    host: \"*.{namespace}.svc.cluster.local\"\n"
                 "    trafficPolicy:\n      tls:\n        mode: DISABLE"
                 if not mesh_wide else
                 "Set the mesh-wide DestinationRule's tls.mode to DISABLE as well, or keep "
                 "PeerAuthentication PERMISSIVE."),
            resource=ref(pa), explains=3))
    return findings


@audit_check(CheckInfo("dr-tls-overrides-mtls",
                       "A DestinationRule without `tls` replaces the mesh-wide ISTIO_MUTUAL",
                       ("DestinationRule", "PeerAuthentication", "ConfigMap"), audit=True))
def dr_tls_overrides_mtls(ctx: AuditContext) -> list[Finding]:
    if ctx.mesh.auto_mtls:
        return []  # auto mTLS fills in ISTIO_MUTUAL for sidecar endpoints
    findings = []
    for dr in ctx.list("DestinationRule"):
        if not ctx.in_scope(dr) or _mode(dr):
            continue
        host = policy.dr_host(dr)
        if host in MESH_WIDE_HOSTS:
            continue
        svc = next((e for e in ctx.registry if e.host == host), None)
        server_ns = svc.namespace if svc else _namespace_of_wide_host(host)
        wide = _wide_dr(ctx, server_ns)
        if wide is None or wide is dr or _mode(wide) != "ISTIO_MUTUAL":
            continue
        mode, pa = _effective_server_mode(ctx, server_ns)
        strict = mode == "STRICT"
        findings.append(Finding(
            "dr-tls-overrides-mtls", "error" if strict else "warning",
            f"DestinationRule {meta(dr).get('namespace')}/{meta(dr).get('name')} for {host} has "
            f"no tls block: its trafficPolicy replaces {ref(wide)}'s ISTIO_MUTUAL and auto mTLS "
            f"is off, so clients send plaintext"
            + (f" to servers that require mTLS ({ref(pa)}): 503 UC on every call" if strict
               else ""),
            [Evidence(ref(dr), "trafficPolicy has no tls"),
             Evidence(ref(wide), "tls.mode: ISTIO_MUTUAL"),
             Evidence(ctx.mesh.source, "enableAutoMtls: false")]
            + ([Evidence(ref(pa), "mtls.mode: STRICT")] if strict and pa else []),
            fix=("Add the TLS mode to this DestinationRule's trafficPolicy:\n"
                 "  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n"
                 "or turn on enableAutoMtls in the mesh config."),
            resource=ref(dr), explains=4))
    return findings
