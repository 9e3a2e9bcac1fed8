"""ServiceEntries sidecars cannot route as written (istioctl's serviceentry.Analyzer and
ConflictingServiceEntryProtocolAnalyzer).

A TCP port has no Host header: without addresses (and without DNS auto-allocation), every
such ServiceEntry on a port shares the sidecar's 0.0.0.0:PORT listener and traffic goes to
whichever one istiod put there. Two ServiceEntries giving one host and port different
protocols make istiod pick one protocol for both.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import as_dict, full_name, meta, ref

Obj = dict[str, Any]

SERVICEENTRY_ADDRESSES_REQUIRED = FindingType(
    "serviceentry-addresses-required", "warning",
    "A ServiceEntry with a TCP port has no addresses (IST0134)",
    kinds=("ServiceEntry", "ConfigMap"))

SERVICEENTRY_PROTOCOL_CONFLICT = FindingType(
    "serviceentry-protocol-conflict", "warning",
    "ServiceEntries give one host and port different protocols (IST0177, KIA1212)",
    kinds=("ServiceEntry",))


SERVICEENTRY_DUPLICATE_HOST = FindingType(
    "serviceentry-duplicate-host", "warning",
    "Several ServiceEntries define the same host and port (KIA1211)",
    kinds=("ServiceEntry",))



def _ports(se: Obj) -> list[Obj]:
    return [p for p in as_dict(se.get("spec")).get("ports") or [] if isinstance(p, dict)]


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def serviceentry_addresses(ctx: AuditContext) -> list[Finding]:
    metadata = ctx.mesh.proxy_metadata
    auto = metadata.get("ISTIO_META_DNS_CAPTURE") == "true" and (
        metadata.get("ISTIO_META_DNS_AUTO_ALLOCATE") == "true"
        or metadata.get("PILOT_ENABLE_IP_AUTOALLOCATE") == "true")
    if auto:
        return []
    findings: list[Finding] = []
    for se in ctx.list("ServiceEntry"):
        spec = as_dict(se.get("spec"))
        if not ctx.in_scope(se) or spec.get("addresses") or as_dict(se.get("status")).get(
                "addresses"):
            continue
        tcp = [p for p in _ports(se) if str(p.get("protocol") or "TCP").upper() == "TCP"]
        if not tcp:
            continue
        numbers = ", ".join(str(p.get("number")) for p in tcp)
        findings.append(SERVICEENTRY_ADDRESSES_REQUIRED(
            f"ServiceEntry {full_name(se)} has TCP port(s) "
            f"{numbers} and no addresses: sidecars cannot tell its traffic from other TCP "
            "traffic on the port, and send it wherever the port's listener points",
            [Evidence(ref(se), f"ports {numbers} protocol TCP, no spec.addresses")],
            fix="Add spec.addresses (the service's IPs or CIDRs), or enable DNS capture with "
                "auto-allocation (ISTIO_META_DNS_CAPTURE and ISTIO_META_DNS_AUTO_ALLOCATE in "
                "the mesh's defaultConfig.proxyMetadata).",
            resource=ref(se)))
    return findings


def serviceentry_protocol_conflicts(ctx: AuditContext) -> list[Finding]:
    index: dict[tuple[str, str, Any], list[tuple[str, Obj]]] = {}
    for se in ctx.list("ServiceEntry"):
        spec = as_dict(se.get("spec"))
        namespace = str(meta(se).get("namespace") or "")
        export = _strings(spec.get("exportTo"))
        scopes = {"*"} if not export or "*" in export else {
            namespace if e == "." else e for e in export}
        for scope in scopes:
            for host in _strings(spec.get("hosts")):
                for port in _ports(se):
                    index.setdefault((scope, host, port.get("number")), []).append(
                        (str(port.get("protocol") or ""), se))
    findings: list[Finding] = []
    reported: set[str] = set()
    for (scope, host, number), entries in sorted(index.items(), key=lambda kv: str(kv[0])):
        if scope != "*":
            entries = entries + index.get(("*", host, number), [])
        protocols = sorted({p.upper() for p, _ in entries})
        if len(protocols) < 2:
            continue
        names = sorted({full_name(se)
                        for _, se in entries})
        for _, se in entries:
            if ref(se) in reported or not ctx.in_scope(se):
                continue
            reported.add(ref(se))
            findings.append(SERVICEENTRY_PROTOCOL_CONFLICT(
                f"ServiceEntries {', '.join(names)} define {host} port {number} as "
                f"{' and '.join(p or '(unset)' for p in protocols)}: istiod uses one protocol "
                "for the port, so calls of the other kind fail",
                [Evidence(ref(other), f"{host}:{number} protocol {p or '(unset)'}")
                 for p, other in entries],
                fix="Give the host and port one protocol in every ServiceEntry, or merge them.",
                resource=ref(se)))
    return findings


def serviceentry_duplicates(ctx: AuditContext) -> list[Finding]:
    """Kiali's serviceentries.MultiMatchChecker: two ServiceEntries for one host and port
    with the same protocol (a different protocol is serviceentry-protocol-conflict).
    istiod keeps both, and which one's resolution, endpoints and settings a client gets
    depends on namespace and age: edit one and nothing may change."""
    index: dict[tuple[str, Any], list[tuple[str, Obj]]] = {}
    for se in ctx.list("ServiceEntry"):
        for host in _strings(as_dict(se.get("spec")).get("hosts")):
            for port in _ports(se):
                index.setdefault((host.lower(), port.get("number")), []).append(
                    (str(port.get("protocol") or "").upper(), se))
    findings: list[Finding] = []
    reported: set[str] = set()
    for (host, number), entries in sorted(index.items(), key=lambda kv: str(kv[0])):
        if len(entries) < 2 or len({p for p, _ in entries}) > 1:
            continue
        names = sorted({full_name(se)
                        for _, se in entries})
        if len(names) < 2:
            continue
        for _, se in entries:
            if ref(se) in reported or not ctx.in_scope(se):
                continue
            reported.add(ref(se))
            findings.append(SERVICEENTRY_DUPLICATE_HOST(
                f"ServiceEntries {', '.join(names)} all define {host} port {number}: a client "
                "gets one of them by namespace and age, so editing the other may change "
                "nothing",
                [Evidence(ref(other), f"hosts: {host}; port {number}") for _, other in entries],
                fix="Define each external host and port in one ServiceEntry (use exportTo to "
                    "limit who sees it).",
                resource=ref(se)))
    return findings
