"""exportTo entries naming namespaces that do not exist (Kiali's ExportToNamespaceChecker,
KIA0005).

`exportTo` limits which namespaces see a DestinationRule, VirtualService or ServiceEntry.
A misspelt namespace there is accepted by the API server and silently hides the object
from the namespace it was meant for: its clients get the defaults (no subsets, no routes).
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.inventory import NAMESPACE_KINDS, complete, known_namespaces
from kubectl_meshdebug.kube.state import ref
from kubectl_meshdebug.text import one_line

EXPORTTO_NAMESPACE_NOT_FOUND = FindingType(
    "exportto-namespace-not-found", "warning",
    "An exportTo entry names a namespace that does not exist (KIA0005)",
    kinds=NAMESPACE_KINDS)

EXPORTING_KINDS = ("DestinationRule", "VirtualService", "ServiceEntry")
SPECIAL = (".", "*", "~")


def exportto_namespaces(ctx: AuditContext) -> list[Finding]:
    if not complete(ctx, "Namespace"):
        return []
    namespaces = known_namespaces(ctx)
    findings = []
    for kind in EXPORTING_KINDS:
        for obj in ctx.list(kind):
            if not ctx.in_scope(obj):
                continue
            spec: dict[str, Any] = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
            export = spec.get("exportTo")
            for i, namespace in enumerate(export if isinstance(export, list) else []):
                namespace = str(namespace)
                if namespace in SPECIAL or namespace in namespaces:
                    continue
                findings.append(EXPORTTO_NAMESPACE_NOT_FOUND(
                    f"{ref(obj)} is exported to namespace {one_line(namespace)!r}, which does "
                    "not exist: no namespace sees it through that entry",
                    [Evidence(ref(obj), f"exportTo[{i}]: {one_line(namespace)}")],
                    fix="Fix the namespace name, or use `.` (this namespace) or `*` (all).",
                    resource=ref(obj)))
    return findings
