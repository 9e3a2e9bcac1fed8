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
from kubectl_meshdebug.checks.finding import Evidence, Finding
from kubectl_meshdebug.checks.registry import CheckInfo, audit_check
from kubectl_meshdebug.kube.state import meta, ref
from kubectl_meshdebug.mesh import policy
from kubectl_meshdebug.mesh.hosts import resolve_host
from kubectl_meshdebug.mesh.names import fqdn_parts
from kubectl_meshdebug.mesh.registry import lookup

Obj = dict[str, Any]


def destinations(vs: Obj) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, destination) for every route destination and mirror of a VirtualService."""
    spec = vs.get("spec") or {}
    for kind in ("http", "tcp", "tls"):
        for i, route in enumerate(spec.get(kind) or []):
            for j, dest in enumerate(route.get("route") or []):
                if isinstance(dest.get("destination"), dict):
                    yield f"spec.{kind}[{i}].route[{j}]", dest["destination"]
            if isinstance(route.get("mirror"), dict):
                yield f"spec.{kind}[{i}].mirror", route["mirror"]
            for j, mirror in enumerate(route.get("mirrors") or []):
                if isinstance(mirror.get("destination"), dict):
                    yield f"spec.{kind}[{i}].mirrors[{j}]", mirror["destination"]


def vs_destinations(ctx: AuditContext) -> Iterator[tuple[Obj, str, str, dict[str, Any], str]]:
    """(VirtualService, its namespace, where, destination, resolved host) for every route
    destination of the VirtualServices in scope."""
    for vs in ctx.list("VirtualService"):
        if not ctx.in_scope(vs):
            continue
        own = meta(vs).get("namespace", "")
        for where, dest in destinations(vs):
            yield vs, own, where, dest, resolve_host(str(dest.get("host", "")), own)


def vs_namespaces(vs: Obj) -> list[str]:
    """Where the VirtualService applies: its exportTo namespaces, else its own."""
    own = meta(vs).get("namespace", "")
    export = (vs.get("spec") or {}).get("exportTo") or []
    out = []
    for entry in export:
        out.append(own if entry in (".", "*") else entry)
    return sorted(set(out)) or [own]


@audit_check(CheckInfo("vs-host-not-found",
                       "A VirtualService routes to a host or port that does not exist (IST0101)",
                       ("VirtualService", "Service", "ServiceEntry"), audit=True))
def vs_host_not_found(ctx: AuditContext) -> list[Finding]:
    findings = []
    for vs, own, where, dest, host in vs_destinations(ctx):
        port = (dest.get("port") or {}).get("number")
        for ns in vs_namespaces(vs):
            entries = lookup(ctx.registry, host, ns)
            if not entries:
                findings.append(Finding(
                    "vs-host-not-found", "error",
                    f"VirtualService {own}/{meta(vs).get('name')} routes to {host}, which "
                    f"is no Service or ServiceEntry visible from namespace {ns}",
                    [Evidence(ref(vs), f"{where}.destination.host: {dest.get('host')}")],
                    fix="Point the destination at an existing Service (short names resolve "
                        "in the VirtualService's namespace; use the FQDN across "
                        "namespaces), or export the Service to this namespace.",
                    resource=ref(vs), explains=2))
                break
            if port is not None and not any(e.has_port(int(port)) for e in entries
                                            if e.ports):
                if all(not e.ports for e in entries):
                    continue
                findings.append(Finding(
                    "vs-host-not-found", "error",
                    f"VirtualService {own}/{meta(vs).get('name')} routes to {host} port "
                    f"{port}, which that host does not have",
                    [Evidence(ref(vs), f"{where}.destination.port.number: {port}"),
                     Evidence(ref(entries[0].source), "ports: " + ", ".join(
                         str(p.get("port", p.get("number"))) for p in entries[0].ports))],
                    fix="Use one of the Service's ports.", resource=ref(vs), explains=2))
                break
    return findings


@audit_check(CheckInfo("vs-port-required",
                       "A destination to a multi-port Service names no port (IST0112)",
                       ("VirtualService", "Service"), audit=True))
def vs_port_required(ctx: AuditContext) -> list[Finding]:
    findings = []
    for vs, own, where, dest, host in vs_destinations(ctx):
        if (dest.get("port") or {}).get("number") is not None:
            continue
        entries = [e for e in lookup(ctx.registry, host, own)
                   if e.source.get("kind") == "Service"]
        if entries and len(entries[0].ports) > 1:
            findings.append(Finding(
                "vs-port-required", "error",
                f"VirtualService {own}/{meta(vs).get('name')} routes to {host}, which has "
                f"{len(entries[0].ports)} ports, without saying which",
                [Evidence(ref(vs), f"{where}.destination has no port")],
                fix="Add destination.port.number.", resource=ref(vs)))
    return findings


@audit_check(CheckInfo("vs-subset-undefined",
                       "A VirtualService routes to a subset no DestinationRule defines",
                       ("VirtualService", "DestinationRule"), audit=True))
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
        findings.append(Finding(
            "vs-subset-undefined", "error",
            f"VirtualService {own}/{meta(vs).get('name')} routes to subset {subset!r} of "
            f"{host}, but {why}: istiod creates no cluster outbound|PORT|{subset}|{host} "
            "and the route answers 503 NC (cluster_not_found)",
            evidence,
            fix=(f"Define the subset in the DestinationRule for {host}:\n  subsets:\n"
                 f"  - name: {subset}\n    labels:\n      version: {subset}\n"
                 "or route to a subset that exists."),
            resource=ref(vs), explains=3))
    return findings


@audit_check(CheckInfo("dr-host-not-found",
                       "A DestinationRule's host matches no Service or ServiceEntry (IST0174)",
                       ("DestinationRule", "Service", "ServiceEntry"), audit=True))
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
            findings.append(Finding(
                "dr-host-not-found", "warning",
                f"DestinationRule {meta(dr).get('namespace')}/{meta(dr).get('name')} is for "
                f"{host}, which is no Service or ServiceEntry: it applies to nothing",
                [Evidence(ref(dr), f"spec.host: {(dr.get('spec') or {}).get('host')}")],
                fix="Fix spec.host (short names resolve in the rule's namespace).",
                resource=ref(dr)))
    return findings


@audit_check(CheckInfo("subset-no-pods",
                       "A DestinationRule subset selects no pod of its Service (IST0173)",
                       ("DestinationRule", "Service", "Pod", "Node"), audit=True))
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
            findings.append(Finding(
                "subset-no-pods", "error",
                f"subset {name!r} of DestinationRule {meta(dr).get('namespace')}/"
                f"{meta(dr).get('name')} selects no pod of {host}: its cluster "
                f"outbound|PORT|{name}|{host} has no endpoints, so calls routed there get "
                "503 UH (no healthy upstream)",
                [Evidence(ref(dr), f"subset {name}: labels {subset.get('labels') or {}}"),
                 Evidence(ref(svc.source), f"selector {svc.selector}; no pod has "
                                           + ",".join(f"{k}={v}" for k, v in selector.items()))],
                fix="Make the subset's labels match the pods' labels (kubectl get pods "
                    f"-n {svc.namespace} --show-labels), or deploy the missing version.",
                resource=ref(dr), explains=3))
    return findings


@audit_check(CheckInfo("dr-duplicate-host",
                       "Two DestinationRules in one namespace are for the same host",
                       ("DestinationRule",), audit=True))
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
        findings.append(Finding(
            "dr-duplicate-host", "warning",
            f"{len(drs)} DestinationRules in {ns} are for {host} ({', '.join(names)}): istiod "
            "merges them, keeping only the oldest one's trafficPolicy and the first "
            "definition of each subset",
            [Evidence(ref(d), f"spec.host: {(d.get('spec') or {}).get('host')}") for d in drs],
            fix="Merge them into one DestinationRule.", resource=ref(drs[0])))
    return findings
