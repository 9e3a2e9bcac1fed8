"""VirtualService destinations and DestinationRule subsets that point at nothing.

A VirtualService route to a subset no DestinationRule defines makes istiod route to a
cluster it never creates (503 NC, `cluster_not_found`); a subset whose labels match no
pod gets a cluster with no endpoints (503 UH, `no_healthy_upstream`, and istiod's
`pilot_eds_no_instances`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import full_name, meta, ref
from kubectl_meshdebug.mesh import policy
from kubectl_meshdebug.mesh.commands import kubectl_hint
from kubectl_meshdebug.mesh.hosts import resolve_host
from kubectl_meshdebug.mesh.names import fqdn_parts
from kubectl_meshdebug.mesh.registry import lookup
from kubectl_meshdebug.mesh.virtualservice import destinations, gateways, vs_namespaces
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

VS_HOST_NOT_FOUND = FindingType(
    "vs-host-not-found", "error",
    "A VirtualService routes to a host or port that does not exist (IST0101, KIA1101)",
    kinds=("VirtualService", "Service", "ServiceEntry"),
    explains=("route-not-found", "cluster-not-found"))

VS_PORT_REQUIRED = FindingType(
    "vs-port-required", "error", "A destination to a multi-port Service names no port (IST0112)",
    kinds=("VirtualService", "Service", "ServiceEntry"))

VS_SUBSET_UNDEFINED = FindingType(
    "vs-subset-undefined", "error",
    "A VirtualService routes to a subset no DestinationRule defines (IST0101, KIA1107)",
    kinds=("VirtualService", "DestinationRule", "Service", "ServiceEntry", "ConfigMap"),
    proxy=("routes", "clusters", "log"),
    explains=("cluster-not-found",))

DR_HOST_NOT_FOUND = FindingType(
    "dr-host-not-found", "warning",
    "A DestinationRule's host matches no Service or ServiceEntry (IST0174, KIA0202)",
    kinds=("DestinationRule", "Service", "ServiceEntry"))

SUBSET_NO_PODS = FindingType(
    "subset-no-pods", "error",
    "A DestinationRule subset selects no pod of its Service (IST0173, KIA0203)",
    kinds=("DestinationRule", "Service", "ServiceEntry", "Pod", "Node", "ConfigMap"),
    proxy=("routes", "clusters", "statuses", "log"),
    explains=("no-endpoints",))

SUBSET_NO_LABELS = FindingType(
    "subset-no-labels", "warning",
    "A DestinationRule subset has no labels: it is every endpoint of the host (KIA0209)",
    kinds=("DestinationRule",))

DR_DUPLICATE_HOST = FindingType(
    "dr-duplicate-host", "warning", "Two DestinationRules in one namespace are for the same host",
    kinds=("DestinationRule",))

INGRESS_ROUTE_RULES_NOT_APPLIED = FindingType(
    "ingress-route-rules-not-applied", "warning",
    "Subset routing in a VirtualService has no effect on gateway traffic (IST0140)",
    kinds=("VirtualService",))


def vs_destinations(ctx: AuditContext) -> Iterator[tuple[Obj, str, str, dict[str, Any], str]]:
    """(VirtualService, its namespace, where, destination, resolved host) for every route
    destination of the VirtualServices in scope."""
    for vs in ctx.list("VirtualService"):
        if not ctx.in_scope(vs):
            continue
        own = meta(vs).get("namespace", "")
        for where, dest in destinations(vs):
            yield vs, own, where, dest, resolve_host(str(dest.get("host", "")), own)


def vs_host_not_found(ctx: AuditContext) -> list[Finding]:
    findings = []
    for vs, own, where, dest, host in vs_destinations(ctx):
        port = (dest.get("port") or {}).get("number")
        for ns in vs_namespaces(vs):
            entries = lookup(ctx.registry, host, ns)
            if not entries:
                findings.append(VS_HOST_NOT_FOUND(
                    f"VirtualService {own}/{meta(vs).get('name')} routes to {host}, which "
                    f"is no Service or ServiceEntry visible from namespace {ns}",
                    [Evidence(ref(vs), f"{where}.destination.host: {dest.get('host')}")],
                    fix="Point the destination at an existing Service (short names resolve "
                        "in the VirtualService's namespace; use the FQDN across "
                        "namespaces), or export the Service to this namespace.",
                    resource=ref(vs), weight=2))
                break
            if port is not None and not any(e.has_port(int(port)) for e in entries
                                            if e.ports):
                if all(not e.ports for e in entries):
                    continue
                findings.append(VS_HOST_NOT_FOUND(
                    f"VirtualService {own}/{meta(vs).get('name')} routes to {host} port "
                    f"{port}, which that host does not have",
                    [Evidence(ref(vs), f"{where}.destination.port.number: {port}"),
                     Evidence(ref(entries[0].source), "ports: " + ", ".join(
                         str(p.get("port", p.get("number"))) for p in entries[0].ports))],
                    fix="Use one of the Service's ports.", resource=ref(vs), weight=2))
                break
    return findings


def vs_port_required(ctx: AuditContext) -> list[Finding]:
    findings = []
    for vs, own, where, dest, host in vs_destinations(ctx):
        if (dest.get("port") or {}).get("number") is not None:
            continue
        entries = [e for e in lookup(ctx.registry, host, own)
                   if e.source.get("kind") == "Service"]
        if entries and len(entries[0].ports) > 1:
            # Sidecars fall back to the port the call came in on (istiod's
            # GetDestinationCluster); a gateway has no such port, so only there it breaks.
            bound = [g for g in gateways(vs) if g != "mesh"]
            effect = (f"on gateway{'s' if len(bound) > 1 else ''} {', '.join(bound[:3])} the "
                      "route has no port to send to" if bound else
                      "sidecars use the port each call came in on, so it works for mesh "
                      "traffic, but the route breaks if the VirtualService is ever bound to "
                      "a gateway")
            findings.append(VS_PORT_REQUIRED(
                f"VirtualService {own}/{meta(vs).get('name')} routes to {host}, which has "
                f"{len(entries[0].ports)} ports, without saying which: {effect}",
                [Evidence(ref(vs), f"{where}.destination has no port"
                          + (f"; gateways: {', '.join(bound[:3])}" if bound else
                             "; applies to sidecars only"))],
                fix="Add destination.port.number.", resource=ref(vs),
                severity="error" if bound else "warning"))
    return findings


def vs_subset_undefined(ctx: AuditContext) -> list[Finding]:
    findings = []
    for vs, own, where, dest, host in vs_destinations(ctx):
        subset = dest.get("subset")
        if not subset:
            continue
        entries = lookup(ctx.registry, host, own)
        parts = fqdn_parts(host)
        service_ns = entries[0].namespace if entries else (parts[1] if parts else None)
        dr = policy.find_destination_rule(ctx.state, ctx.mesh, host, own, None, service_ns)
        names = [s.get("name") for s in ((dr or {}).get("spec") or {}).get("subsets") or []]
        if subset in names:
            continue
        evidence = [Evidence(ref(vs), f"{where}.destination: host {dest.get('host')}, "
                                      f"subset {subset}")]
        if dr is not None:
            evidence.append(Evidence(ref(dr), "subsets: " + (", ".join(map(str, names))
                                                             or "(none)")))
            why = f"{ref(dr)} (the rule that applies) defines no subset {subset!r}"
        else:
            why = f"no DestinationRule for {host} applies in namespace {own}"
        findings.append(VS_SUBSET_UNDEFINED(
            f"VirtualService {own}/{meta(vs).get('name')} routes to subset {subset!r} of "
            f"{host}, but {why}: istiod creates no cluster outbound|PORT|{subset}|{host} "
            "and the route answers 503 NC (cluster_not_found)",
            evidence,
            fix=(f"Define the subset in the DestinationRule for {one_line(host)}:\n"
                 f"  subsets:\n  - name: {one_line(subset)}\n    labels:\n"
                 f"      version: {one_line(subset)}\n"
                 "or route to a subset that exists."),
            resource=ref(vs), weight=3))
    return findings


def dr_host_not_found(ctx: AuditContext) -> list[Finding]:
    findings = []
    for dr in ctx.list("DestinationRule"):
        if not ctx.in_scope(dr):
            continue
        host = policy.dr_host(dr)
        if host.startswith("*"):
            continue
        if not any(e.host == host or (e.host.startswith("*") and host.endswith(e.host[1:]))
                   for e in ctx.registry):
            findings.append(DR_HOST_NOT_FOUND(
                f"DestinationRule {full_name(dr)} is for "
                f"{host}, which is no Service or ServiceEntry: it applies to nothing",
                [Evidence(ref(dr), f"spec.host: {(dr.get('spec') or {}).get('host')}")],
                fix="Fix spec.host (short names resolve in the rule's namespace).",
                resource=ref(dr)))
    return findings


def subset_no_pods(ctx: AuditContext) -> list[Finding]:
    findings = []
    for dr in ctx.list("DestinationRule"):
        if not ctx.in_scope(dr):
            continue
        host = policy.dr_host(dr)
        services = [e for e in ctx.registry if e.host == host and e.source.get("kind") == "Service"]
        if not services:
            continue
        svc = services[0]
        for subset in (dr.get("spec") or {}).get("subsets") or []:
            selector = dict(svc.selector)
            selector.update({k: str(v) for k, v in (subset.get("labels") or {}).items()})
            if ctx.pods_selected(svc.namespace, selector):
                continue
            name = subset.get("name")
            findings.append(SUBSET_NO_PODS(
                f"subset {name!r} of DestinationRule {meta(dr).get('namespace')}/"
                f"{meta(dr).get('name')} selects no pod of {host}: its cluster "
                f"outbound|PORT|{name}|{host} has no endpoints, so calls routed there get "
                "503 UH (no healthy upstream)",
                [Evidence(ref(dr), f"subset {name}: labels {subset.get('labels') or {}}"),
                 Evidence(ref(svc.source), f"selector {svc.selector}; no pod has "
                                           + ",".join(f"{k}={v}" for k, v in selector.items()))],
                fix=("Make the subset's labels match the pods' labels ("
                     + kubectl_hint("get", "pods", "-n", svc.namespace, "--show-labels",
                                    names=[svc.namespace])
                     + "), or deploy the missing version."),
                resource=ref(dr), weight=3))
    return findings


def subset_no_labels(ctx: AuditContext) -> list[Finding]:
    """Kiali's subsetnolabels: a subset without labels selects every endpoint, so routing
    to it splits nothing (usually the labels were forgotten or mis-indented)."""
    findings = []
    for dr in ctx.list("DestinationRule"):
        if not ctx.in_scope(dr):
            continue
        for i, subset in enumerate((dr.get("spec") or {}).get("subsets") or []):
            if not isinstance(subset, dict) or subset.get("labels"):
                continue
            name = one_line(str(subset.get("name") or ""))
            findings.append(SUBSET_NO_LABELS(
                f"subset {name!r} of {ref(dr)} has no labels: it selects every endpoint of "
                f"{policy.dr_host(dr)}, so a route to it is a route to the whole host",
                [Evidence(ref(dr), f"subsets[{i}] ({name}): no labels")],
                fix=(f"Give the subset the labels of its pods:\n  subsets:\n  - name: {name}\n"
                     f"    labels:\n      version: {name}"),
                resource=ref(dr)))
    return findings


def dr_duplicate_host(ctx: AuditContext) -> list[Finding]:
    seen: dict[tuple[str, str], list[Obj]] = {}
    for dr in ctx.list("DestinationRule"):
        spec = dr.get("spec") or {}
        if spec.get("workloadSelector"):
            continue
        seen.setdefault((meta(dr).get("namespace", ""), policy.dr_host(dr)), []).append(dr)
    findings = []
    for (ns, host), drs in sorted(seen.items()):
        if len(drs) < 2 or not any(ctx.in_scope(d) for d in drs):
            continue
        names = sorted(meta(d).get("name", "") for d in drs)
        findings.append(DR_DUPLICATE_HOST(
            f"{len(drs)} DestinationRules in {ns} are for {host} ({', '.join(names)}): istiod "
            "merges them, keeping only the oldest one's trafficPolicy and the first "
            "definition of each subset",
            [Evidence(ref(d), f"spec.host: {(d.get('spec') or {}).get('host')}") for d in drs],
            fix="Merge them into one DestinationRule.", resource=ref(drs[0])))
    return findings


def ingress_route_rules_not_applied(ctx: AuditContext) -> list[Finding]:
    """IST0140: a gateway's VirtualService routing to a host without a subset, while a
    VirtualService for that host splits it by subsets: the gateway's traffic skips that
    split, because a gateway applies only its own VirtualServices."""
    split: dict[str, list[tuple[Obj, str]]] = {}
    for vs in ctx.list("VirtualService"):
        own = str(meta(vs).get("namespace", ""))
        spec = vs.get("spec") if isinstance(vs.get("spec"), dict) else {}
        hosts = {resolve_host(str(h), own) for h in spec.get("hosts") or []
                 if isinstance(h, (str, int))}
        for where, dest in destinations(vs):
            host = resolve_host(str(dest.get("host", "")), own)
            if where.startswith("spec.http") and dest.get("subset") and host in hosts:
                split.setdefault(host, []).append((vs, str(dest.get("subset"))))
    findings = []
    for vs in ctx.list("VirtualService"):
        if not ctx.in_scope(vs) or not gateways(vs):
            continue
        own = str(meta(vs).get("namespace", ""))
        for where, dest in destinations(vs):
            if not where.startswith("spec.http[") or ".mirror" in where or dest.get("subset"):
                continue
            host = resolve_host(str(dest.get("host", "")), own)
            others = [(o, subset) for o, subset in split.get(host, []) if o is not vs]
            if not others:
                continue
            other, subset = others[0]
            findings.append(INGRESS_ROUTE_RULES_NOT_APPLIED(
                f"{ref(vs)} (on gateways {', '.join(gateways(vs))}) routes to {host} without a "
                f"subset, so requests through the gateway skip the subset routing of "
                f"{ref(other)} (subset {subset}): they go to every pod of {host}",
                [Evidence(ref(vs), f"{where}.destination: host {dest.get('host')}, no subset"),
                 Evidence(ref(other), f"routes {host} to subset {subset}")],
                fix=("Route to the subsets in the gateway's VirtualService too, e.g.\n"
                     f"  - destination:\n      host: {one_line(dest.get('host'))}\n"
                     f"      subset: {one_line(subset)}\n"
                     f"or bind {ref(other)} to the gateway as well (gateways: [mesh, GATEWAY])."),
                resource=ref(vs), weight=2))
            break
    return findings
