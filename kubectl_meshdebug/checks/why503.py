"""The why-503 runner: every runtime check over one call's context, ordered findings."""

from __future__ import annotations

from kubectl_meshdebug.checks import rt_proxy, rt_routing, rt_tls, rt_upstream  # noqa: F401
from kubectl_meshdebug.checks.finding import Finding, ordered
from kubectl_meshdebug.checks.registry import RUNTIME_FUNCS
from kubectl_meshdebug.checks.why503_context import Why503Context

WHY503_KINDS = ["Pod", "Service", "Endpoints", "Namespace", "ConfigMap", "DestinationRule",
                "VirtualService", "ServiceEntry", "Sidecar", "PeerAuthentication"]


def run_why503(ctx: Why503Context) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for cid, check in RUNTIME_FUNCS.items():
        ctx.checked.append(cid)
        for finding in check(ctx):
            key = (finding.id, finding.resource, finding.summary)
            if key not in seen:
                seen.add(key)
                findings.append(finding)
    return ordered(findings)
