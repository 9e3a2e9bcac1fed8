"""The runners: audit over objects, why-503 over one call; findings ordered cause first."""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Finding, ordered
from kubectl_meshdebug.checks.registry import WHY503_CHECKS, Check, select_audit
from kubectl_meshdebug.checks.why503_context import Why503Context
from kubectl_meshdebug.kube.state import ClusterState

# What every diagnosis reads besides what the checks declare: the mesh config.
BASE_KINDS = {"ConfigMap"}


def kinds_of(checks: list[Check]) -> set[str]:
    return BASE_KINDS | {k for c in checks for k in c.kinds}


def proxy_data_of(checks: list[Check]) -> set[str]:
    return {p for c in checks for p in c.proxy}


def run_audit(state: ClusterState, scope: str | None, only: list[str] | None = None,
              malformed: list[Any] | None = None) -> tuple[list[str], list[Finding]]:
    """(check names run, findings). `only` limits the run to some finding ids; `malformed`
    objects (left out of the state) are reported, not checked."""
    checks = select_audit(only)
    state.prefetch(kinds_of(checks))
    ctx = AuditContext.build(state, scope, malformed)
    findings: list[Finding] = []
    for check in checks:
        findings.extend(f for f in check.run(ctx) if not only or f.id in only)
    return [c.name for c in checks], ordered(findings)


def run_why503(ctx: Why503Context, checks: list[Check] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for check in checks if checks is not None else WHY503_CHECKS:
        ctx.checked.append(check.name)
        for finding in check.run(ctx):
            key = (finding.id, finding.resource, finding.summary)
            if key not in seen:
                seen.add(key)
                findings.append(finding)
    if any(f.severity in ("error", "warning") and f.id != "failures-unexplained"
           for f in findings):  # a cause was found: the counters are its evidence
        findings = [f for f in findings if f.id != "failures-unexplained"]
    return ordered(findings)
