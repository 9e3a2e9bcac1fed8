"""Telemetry resources that do not do what they say (istioctl's telemetry.SelectorAnalyzer,
DefaultSelectorAnalyzer and ProviderAnalyzer).

Like a Sidecar, a workload gets one Telemetry of each level: a selector that matches no
pod applies to nothing, two selectors on one pod or two selector-less Telemetries in a
namespace leave istiod to pick one. An access-logging entry with no provider turns on
nothing when the mesh names no default provider.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.selectors import selector_text
from kubectl_meshdebug.kube.state import as_dict, full_name, meta, ref, selects

Obj = dict[str, Any]

TELEMETRY_SELECTOR_NO_PODS = FindingType(
    "telemetry-selector-no-pods", "error",
    "A Telemetry's selector matches no pod in its namespace (IST0101)",
    kinds=("Telemetry", "Pod"))

TELEMETRY_SELECTOR_CONFLICT = FindingType(
    "telemetry-selector-conflict", "error",
    "Several Telemetries select the same pod: only one applies (IST0159)",
    kinds=("Telemetry", "Pod"))

TELEMETRY_MULTIPLE_DEFAULTS = FindingType(
    "telemetry-multiple-defaults", "error",
    "Several Telemetries in one namespace have no selector: only one applies (IST0160)",
    kinds=("Telemetry",))

TELEMETRY_ACCESS_LOG_NO_PROVIDER = FindingType(
    "telemetry-access-log-no-provider", "warning",
    "A Telemetry turns on access logs without a provider, and the mesh names none (IST0157)",
    kinds=("Telemetry", "ConfigMap"))




def telemetry_selectors(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    by_pod: dict[str, list[Obj]] = {}
    defaults: dict[str, list[Obj]] = {}
    for telemetry in ctx.list("Telemetry"):
        spec = as_dict(telemetry.get("spec"))
        namespace = str(meta(telemetry).get("namespace") or "")
        if "selector" not in spec:
            defaults.setdefault(namespace, []).append(telemetry)
        selector = {str(k): str(v) for k, v in
                    as_dict(as_dict(spec.get("selector")).get("matchLabels")).items()}
        if not selector:
            continue
        matched = [p for p in ctx.list("Pod") if meta(p).get("namespace") == namespace
                   and selects(selector, p)]
        for pod in matched:
            by_pod.setdefault(full_name(pod), []).append(telemetry)
        if not matched and ctx.in_scope(telemetry):
            text = selector_text(selector)
            findings.append(TELEMETRY_SELECTOR_NO_PODS(
                f"Telemetry {full_name(telemetry)} selects {text}, which no pod in {namespace} "
                "carries: it applies to nothing",
                [Evidence(ref(telemetry), f"selector.matchLabels: {selector}")],
                fix="Fix the labels, or create the Telemetry in the pods' namespace.",
                resource=ref(telemetry)))
    reported: set[str] = set()
    for pod, telemetries in sorted(by_pod.items()):
        if len(telemetries) < 2:
            continue
        names = ", ".join(sorted(full_name(t) for t in telemetries))
        for telemetry in telemetries:
            if ref(telemetry) in reported or not ctx.in_scope(telemetry):
                continue
            reported.add(ref(telemetry))
            findings.append(TELEMETRY_SELECTOR_CONFLICT(
                f"pod {pod} is selected by Telemetries {names}: istiod applies one of them",
                [Evidence(ref(t), f"selector: {as_dict(t.get('spec')).get('selector')}")
                 for t in telemetries],
                fix="Make the selectors disjoint, or merge the Telemetries into one.",
                resource=ref(telemetry)))
    for namespace, telemetries in sorted(defaults.items()):
        if len(telemetries) < 2:
            continue
        names = ", ".join(sorted(full_name(t) for t in telemetries))
        findings += [TELEMETRY_MULTIPLE_DEFAULTS(
            f"namespace {namespace} has Telemetries without a selector {names}: istiod "
            "applies one of them to the namespace",
            [Evidence(ref(t), "no selector") for t in telemetries],
            fix="Keep one selector-less Telemetry per namespace; give the others a selector.",
            resource=ref(telemetry)) for telemetry in telemetries if ctx.in_scope(telemetry)]
    return findings


def telemetry_access_log_providers(ctx: AuditContext) -> list[Finding]:
    if ctx.mesh.default_access_log_providers:
        return []
    findings: list[Finding] = []
    for telemetry in ctx.list("Telemetry"):
        if not ctx.in_scope(telemetry):
            continue
        for index, entry in enumerate(as_dict(telemetry.get("spec")).get("accessLogging") or []):
            entry = as_dict(entry)
            if entry.get("disabled") is True or entry.get("providers"):
                continue
            findings.append(TELEMETRY_ACCESS_LOG_NO_PROVIDER(
                f"Telemetry {full_name(telemetry)} turns on access logging with no provider, and "
                "the mesh config names no default access log provider: no access log is "
                "written",
                [Evidence(ref(telemetry), f"accessLogging[{index}]: no providers"),
                 Evidence(ctx.mesh.source, "no defaultProviders.accessLogging")],
                fix="Name a provider (providers: [{name: envoy}]), or set "
                    "defaultProviders.accessLogging in the mesh config.",
                resource=ref(telemetry)))
    return findings
