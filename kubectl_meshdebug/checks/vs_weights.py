"""VirtualService route destinations whose weights do not say what they seem to (Kiali's
RouteChecker, KIA1104 and KIA1105).

A route with one destination sends it all traffic whatever its weight says: `weight: 20`
there is a leftover of a canary that now gets 100%. Two destinations of one route with the
same host and subset split nothing: Envoy's weighted cluster sums them, so the split the
weights describe is not the one the calls get.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import as_list, meta, ref
from kubectl_meshdebug.mesh.hosts import resolve_host
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

VS_SINGLE_WEIGHT = FindingType(
    "vs-single-weight", "info",
    "A route's only destination has a weight below 100: it gets all traffic (KIA1104)",
    kinds=("VirtualService",))

VS_REPEATED_DESTINATION = FindingType(
    "vs-repeated-destination", "warning",
    "One route lists the same host and subset twice (KIA1105)",
    kinds=("VirtualService",))



def vs_route_weights(ctx: AuditContext) -> list[Finding]:
    findings = []
    for vs in ctx.list("VirtualService"):
        if not ctx.in_scope(vs):
            continue
        namespace = str(meta(vs).get("namespace") or "")
        spec = vs.get("spec") if isinstance(vs.get("spec"), dict) else {}
        for section in ("http", "tcp", "tls"):
            for i, rule in enumerate(as_list(spec.get(section))):
                if not isinstance(rule, dict):
                    continue
                route = [r for r in as_list(rule.get("route")) if isinstance(r, dict)]
                where = f"{section}[{i}]"
                weight = route[0].get("weight") if len(route) == 1 else None
                if isinstance(weight, int) and 0 < weight < 100:
                    findings.append(VS_SINGLE_WEIGHT(
                        f"{ref(vs)} {where} has one destination with weight {weight}: it "
                        f"receives all of the route's traffic, not {weight}%",
                        [Evidence(ref(vs), f"{where}.route[0].weight: {weight}")],
                        fix="Remove the weight, or add the destination that should get the "
                            "rest.",
                        resource=ref(vs)))
                seen: dict[tuple[str, str], int] = {}
                for j, dest in enumerate(route):
                    destination = dest.get("destination")
                    if not isinstance(destination, dict):
                        continue
                    key = (resolve_host(str(destination.get("host") or ""), namespace),
                           str(destination.get("subset") or ""))
                    if key in seen:
                        host, subset = (one_line(k) for k in key)
                        findings.append(VS_REPEATED_DESTINATION(
                            f"{ref(vs)} {where} lists {host}"
                            + (f" subset {subset}" if subset else "")
                            + f" twice (route[{seen[key]}] and route[{j}]): their weights add "
                            "up, so the split is not the one written",
                            [Evidence(ref(vs), f"{where}.route[{seen[key]}] and "
                                               f"{where}.route[{j}]: {host} {subset}".strip())],
                            fix="Merge the two destinations into one with the summed weight, "
                                "or route the second to the subset it was meant for.",
                            resource=ref(vs)))
                    seen.setdefault(key, j)
    return findings
