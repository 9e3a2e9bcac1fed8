"""PeerAuthentication and RequestAuthentication selectors istiod cannot apply as written
(Kiali's generic selector checkers, KIA0002-KIA0004).

istiod composes one PeerAuthentication per level for a workload: of several namespace-wide
policies in one namespace, or several whose selectors match the same workload, it takes
the oldest and silently ignores the rest (`ComposePeerAuthentication`). A selector that
matches no workload in the policy's namespace applies to nothing, usually a label typo
that leaves the intended workload under the namespace's mode (or without JWT checks).
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.inventory import match_labels, selector_text
from kubectl_meshdebug.kube.state import as_dict, label_selector_matches, labels, meta, ref
from kubectl_meshdebug.mesh.policy import oldest_first
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

PEERAUTH_MULTIPLE_DEFAULTS = FindingType(
    "peerauth-multiple-defaults", "warning",
    "Several PeerAuthentications in one namespace have no selector: only the oldest "
    "applies (KIA0002)",
    kinds=("PeerAuthentication",))

PEERAUTH_SELECTOR_CONFLICT = FindingType(
    "peerauth-selector-conflict", "warning",
    "Several PeerAuthentications select the same workload: only the oldest applies (KIA0003)",
    kinds=("PeerAuthentication", "Pod", "Deployment", "StatefulSet", "DaemonSet"))

POLICY_SELECTOR_NO_PODS = FindingType(
    "policy-selector-no-pods", "warning",
    "A PeerAuthentication's or RequestAuthentication's selector matches no workload in "
    "its namespace (KIA0004)",
    kinds=("PeerAuthentication", "RequestAuthentication", "Pod", "Deployment", "StatefulSet",
           "DaemonSet"))

_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet")



def workloads(ctx: AuditContext) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, `Kind name`, labels) of every workload: pods, and the pod templates of
    Deployments, StatefulSets and DaemonSets (files often hold those without pods)."""
    out = []
    for pod in ctx.list("Pod"):
        status = as_dict(pod.get("status"))
        if status.get("phase") in ("Succeeded", "Failed"):
            continue
        out.append((str(meta(pod).get("namespace") or ""), ref(pod), labels(pod)))
    for kind in _TEMPLATE_KINDS:
        for workload in ctx.list(kind):
            template = as_dict(as_dict(workload.get("spec")).get("template"))
            out.append((str(meta(workload).get("namespace") or ""), ref(workload),
                        {str(k): str(v) for k, v in
                         as_dict(as_dict(template.get("metadata")).get("labels")).items()}))
    return out


def policy_selectors(ctx: AuditContext) -> list[Finding]:
    found = workloads(ctx)
    findings: list[Finding] = []
    defaults: dict[str, list[Obj]] = {}
    by_workload: dict[tuple[str, str], list[Obj]] = {}
    for kind in ("PeerAuthentication", "RequestAuthentication"):
        for obj in ctx.list(kind):
            namespace = str(meta(obj).get("namespace") or "")
            selector = match_labels(obj)
            if not selector:
                if kind == "PeerAuthentication":
                    defaults.setdefault(namespace, []).append(obj)
                continue
            matched = [(name, lbl) for ns, name, lbl in found
                       if ns == namespace and label_selector_matches({"matchLabels": selector}, lbl)]
            if kind == "PeerAuthentication":
                for name, _ in matched:
                    by_workload.setdefault((namespace, name), []).append(obj)
            if matched or not ctx.in_scope(obj):
                continue
            findings.append(POLICY_SELECTOR_NO_PODS(
                f"{ref(obj)} selects {one_line(selector_text(selector))}, which no workload in "
                f"{namespace} carries: it applies to nothing",
                [Evidence(ref(obj), f"selector.matchLabels: {one_line(selector_text(selector))}")],
                fix="Match the labels of the workload it is for (kubectl get pods -n "
                    f"{one_line(namespace)} --show-labels), or remove the selector to apply it "
                    "to the whole namespace.",
                resource=ref(obj)))
    for namespace, pas in sorted(defaults.items()):
        if len(pas) < 2:
            continue
        ordered = oldest_first(pas)
        for pa in ordered:
            if not ctx.in_scope(pa):
                continue
            effect = ("it is the oldest, so it applies and the others are ignored"
                      if pa is ordered[0] else
                      f"istiod applies only the oldest, {ref(ordered[0])}, and ignores this one")
            findings.append(PEERAUTH_MULTIPLE_DEFAULTS(
                f"{ref(pa)} is one of {len(pas)} PeerAuthentications without a selector in "
                f"{namespace}: {effect}",
                [Evidence(ref(p), "no selector") for p in ordered[:4]],
                fix="Keep one namespace-wide PeerAuthentication per namespace (merge their "
                    "mtls and portLevelMtls into it) and delete the others.",
                resource=ref(pa)))
    reported: set[str] = set()
    for (_, workload), pas in sorted(by_workload.items()):
        if len(pas) < 2:
            continue
        ordered = oldest_first(pas)
        for pa in ordered:
            if ref(pa) in reported or not ctx.in_scope(pa):
                continue
            reported.add(ref(pa))
            others = ", ".join(ref(p) for p in ordered if p is not pa)
            effect = ("it is the oldest, so it applies there and the others do not"
                      if pa is ordered[0] else
                      "istiod applies only the oldest, so this one's mtls settings do not "
                      "take effect there")
            findings.append(PEERAUTH_SELECTOR_CONFLICT(
                f"{ref(pa)} and {others} all select {workload}: {effect}",
                [Evidence(ref(p), f"selector.matchLabels: "
                                  f"{one_line(selector_text(match_labels(p) or {}))}")
                 for p in ordered[:4]],
                fix="Give each workload one PeerAuthentication: narrow the selectors so they "
                    "do not overlap, or merge the policies.",
                resource=ref(pa)))
    return findings
