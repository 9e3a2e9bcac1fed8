"""WorkloadGroups (VMs joining the mesh) that cannot work as written (Kiali's workloadgroups
checkers, KIA1701 and KIA1702).

A VM bootstraps with a token for the group's `template.serviceAccount`: if that account does
not exist in the group's namespace the VM gets no token and no certificate, so it never
joins. Two groups in one namespace with the same `metadata.labels` make their VMs
indistinguishable to every selector: Services, DestinationRule subsets and policies meant
for one group catch both.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.inventory import (
    ACCOUNT_KINDS,
    accounts_known,
    selector_text,
    service_accounts,
)
from kubectl_meshdebug.kube.state import as_dict, meta, ref
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

WORKLOADGROUP_ACCOUNT_NOT_FOUND = FindingType(
    "workloadgroup-account-not-found", "warning",
    "A WorkloadGroup's service account does not exist in its namespace (KIA1701)",
    kinds=("WorkloadGroup", *ACCOUNT_KINDS))

WORKLOADGROUP_DUPLICATE_LABELS = FindingType(
    "workloadgroup-duplicate-labels", "warning",
    "Two WorkloadGroups in one namespace give their workloads the same labels (KIA1702)",
    kinds=("WorkloadGroup",))



def workloadgroups(ctx: AuditContext) -> list[Finding]:
    groups = ctx.list("WorkloadGroup")
    findings: list[Finding] = []
    if accounts_known(ctx):
        accounts = service_accounts(ctx)
        for group in groups:
            namespace = str(meta(group).get("namespace") or "")
            account = as_dict(as_dict(group.get("spec")).get("template")).get("serviceAccount")
            if not account or (namespace, str(account)) in accounts or not ctx.in_scope(group):
                continue
            findings.append(WORKLOADGROUP_ACCOUNT_NOT_FOUND(
                f"{ref(group)} runs its workloads as service account "
                f"{one_line(str(account))!r}, which does not exist in {namespace}: a VM of the "
                "group gets no token, so no certificate, and never joins the mesh",
                [Evidence(ref(group), f"template.serviceAccount: {one_line(str(account))}")],
                fix=f"kubectl create serviceaccount {one_line(str(account))} -n "
                    f"{one_line(namespace)}   (or name an existing account)",
                resource=ref(group)))
    by_labels: dict[tuple[str, str], list[Obj]] = {}
    for group in groups:
        metadata = as_dict(group.get("spec")).get("metadata")
        if not isinstance(metadata, dict):
            continue
        found = {str(k): str(v) for k, v in as_dict(metadata.get("labels")).items()}
        by_labels.setdefault((str(meta(group).get("namespace") or ""),
                              selector_text(found)), []).append(group)
    for (_, text), same in sorted(by_labels.items()):
        if len(same) < 2:
            continue
        for group in same:
            if not ctx.in_scope(group):
                continue
            others = ", ".join(ref(g) for g in same if g is not group)
            findings.append(WORKLOADGROUP_DUPLICATE_LABELS(
                f"{ref(group)} and {others} give their workloads the same labels "
                f"({one_line(text)}): every selector that matches one group's VMs matches the "
                "other's",
                [Evidence(ref(g), f"metadata.labels: {one_line(text)}") for g in same[:4]],
                fix="Give each WorkloadGroup a distinguishing label (e.g. app or version).",
                resource=ref(group)))
    return findings
