"""EnvoyFilter patches istiod ignores or applies unpredictably (istioctl's
envoyfilter.EnvoyPatchAnalyzer).

ADD and REMOVE do nothing on ROUTE_CONFIGURATION and HTTP_ROUTE; REPLACE only works on
HTTP_FILTER, NETWORK_FILTER and VIRTUAL_HOST. A relative operation (INSERT_BEFORE/AFTER,
REPLACE, REMOVE) without a priority depends on the order istiod applies EnvoyFilters in,
which is creation order: the patch can silently miss its anchor, and after an upgrade
(when a filter of the same name is patched per proxyVersion) miss it again.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import as_dict, full_name, meta, ref

Obj = dict[str, Any]

ENVOYFILTER_RELATIVE_NO_PRIORITY = FindingType(
    "envoyfilter-relative-no-priority", "warning",
    "An EnvoyFilter patches relative to another filter without a priority (IST0151)",
    kinds=("EnvoyFilter",))

ENVOYFILTER_RELATIVE_PROXY_VERSION = FindingType(
    "envoyfilter-relative-proxy-version", "warning",
    "An EnvoyFilter patches relative to a filter another proxyVersion-bound EnvoyFilter "
    "patches, without a priority (IST0155)",
    kinds=("EnvoyFilter",))

ENVOYFILTER_REPLACE_IGNORED = FindingType(
    "envoyfilter-replace-ignored", "error",
    "An EnvoyFilter REPLACEs something REPLACE does not apply to (IST0152)",
    kinds=("EnvoyFilter",))

ENVOYFILTER_ADD_IGNORED = FindingType(
    "envoyfilter-add-ignored", "error",
    "An EnvoyFilter ADDs to a route configuration or route, which istiod ignores (IST0153)",
    kinds=("EnvoyFilter",))

ENVOYFILTER_REMOVE_IGNORED = FindingType(
    "envoyfilter-remove-ignored", "error",
    "An EnvoyFilter REMOVEs a route configuration or route, which istiod ignores (IST0154)",
    kinds=("EnvoyFilter",))

ROUTES = ("ROUTE_CONFIGURATION", "HTTP_ROUTE")
REPLACEABLE = ("NETWORK_FILTER", "HTTP_FILTER", "VIRTUAL_HOST")
RELATIVE = ("INSERT_BEFORE", "INSERT_AFTER")



def _instance_name(patch: Obj) -> str:
    """The filter a patch is about: its value's name, else the listener filter it
    matches (Istio's instanceName)."""
    value = as_dict(as_dict(patch.get("patch")).get("value"))
    if not value:
        return ""
    if "name" in value:
        return str(value["name"])
    chain = as_dict(as_dict(as_dict(patch.get("match")).get("listener")).get("filterChain"))
    return str(as_dict(chain.get("filter")).get("name") or "")


def envoyfilter_patches(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    versioned: list[str] = []  # filters patched under a proxyVersion match, in order
    filters = sorted(ctx.list("EnvoyFilter"), key=lambda f: (str(meta(f).get("namespace")),
                                                              str(meta(f).get("name"))))
    for envoy_filter in filters:
        spec = as_dict(envoy_filter.get("spec"))
        priority = spec.get("priority") or 0
        name = full_name(envoy_filter)
        report = ctx.in_scope(envoy_filter)
        for index, patch in enumerate(p for p in spec.get("configPatches") or []
                                      if isinstance(p, dict)):
            if not isinstance(patch.get("patch"), dict):
                break
            operation = str(patch["patch"].get("operation") or "")
            apply_to = str(patch.get("applyTo") or "")
            instance = _instance_name(patch)
            where = f"configPatches[{index}]: applyTo {apply_to or '-'}, operation {operation}"
            relative = operation in RELATIVE or (
                operation == "REMOVE" and apply_to not in ROUTES) or (
                operation == "REPLACE" and apply_to in REPLACEABLE)
            if report and operation in ("ADD", "REMOVE") and apply_to in ROUTES:
                kind = ENVOYFILTER_ADD_IGNORED if operation == "ADD" else \
                    ENVOYFILTER_REMOVE_IGNORED
                findings.append(kind(
                    f"EnvoyFilter {name} {operation}s with applyTo {apply_to}: istiod ignores "
                    "that patch",
                    [Evidence(ref(envoy_filter), where)],
                    fix="Patch the route with MERGE (or the virtual host with ADD/REMOVE, "
                        "applyTo VIRTUAL_HOST) instead.",
                    resource=ref(envoy_filter)))
            elif report and operation == "REPLACE" and apply_to not in REPLACEABLE:
                findings.append(ENVOYFILTER_REPLACE_IGNORED(
                    f"EnvoyFilter {name} REPLACEs with applyTo {apply_to or 'unset'}: REPLACE "
                    "only works on HTTP_FILTER, NETWORK_FILTER and VIRTUAL_HOST",
                    [Evidence(ref(envoy_filter), where)],
                    fix="Use MERGE, or REMOVE and ADD, for this kind of object.",
                    resource=ref(envoy_filter)))
            elif report and relative and not priority:
                with_version = instance in versioned
                kind = ENVOYFILTER_RELATIVE_PROXY_VERSION if with_version else \
                    ENVOYFILTER_RELATIVE_NO_PRIORITY
                findings.append(kind(
                    f"EnvoyFilter {name} {operation}s relative to "
                    f"{instance or 'another filter'} without a priority: whether it applies "
                    "depends on the order istiod applies EnvoyFilters in"
                    + (", and another EnvoyFilter patches that filter per proxyVersion"
                       if with_version else ""),
                    [Evidence(ref(envoy_filter), where + ", no priority")],
                    fix="Set spec.priority, or use INSERT_FIRST or ADD, which do not depend "
                        "on other patches.",
                    resource=ref(envoy_filter)))
            proxy = as_dict(as_dict(patch.get("match")).get("proxy"))
            if proxy.get("proxyVersion"):
                versioned.append(instance)
    return findings
