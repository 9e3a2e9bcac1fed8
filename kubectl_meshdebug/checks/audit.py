"""The audit runner: every object-only check over the cluster state, ordered findings."""

from __future__ import annotations

from kubectl_meshdebug.checks import mtls, ports, routing  # noqa: F401  (register checks)
from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Finding, ordered
from kubectl_meshdebug.checks.registry import AUDIT_FUNCS, CATALOGUE
from kubectl_meshdebug.kube.state import ClusterState

AUDIT_KINDS = sorted({k for info in CATALOGUE.values() if info.audit for k in info.kinds}
                     | {"Namespace", "ConfigMap"})


def run_audit(state: ClusterState, scope: str | None,
              only: list[str] | None = None) -> tuple[list[str], list[Finding]]:
    """(check ids run, findings). `only` limits the run to some check ids."""
    state.prefetch(AUDIT_KINDS)
    ctx = AuditContext.build(state, scope)
    ran = [cid for cid in AUDIT_FUNCS if not only or cid in only]
    findings: list[Finding] = []
    for cid in ran:
        findings.extend(AUDIT_FUNCS[cid](ctx))
    return ran, ordered(findings)
