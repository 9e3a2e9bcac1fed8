"""Objects `audit -f` could not read because their fields have the wrong types.

The API server would refuse them; in files they are the first thing to fix, and every
other object is still checked.
"""

from __future__ import annotations

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.schema import describe

OBJECT_MALFORMED = FindingType(
    "object-malformed", "error", "An object's fields have the wrong types", kinds=())


def object_malformed(ctx: AuditContext) -> list[Finding]:
    findings = []
    for bad in ctx.malformed:
        name = describe(bad.obj)
        if ctx.scope is not None and (bad.obj.get("metadata") or {}).get("namespace") not in (
                ctx.scope, None):
            continue
        findings.append(OBJECT_MALFORMED(
            f"{name} in {bad.source} cannot be read: {bad.problems[0]}; the API server would "
            "refuse it, and meshdebug left it out of every other check",
            [Evidence(name, problem) for problem in bad.problems],
            fix="Give each field the type the API expects (kubectl apply --dry-run=server -f "
                "FILE names every one).", resource=name, weight=10))
    return findings
