"""Service ports whose protocol Istio reads wrongly, or cannot read at all.

Istio takes a port's protocol from `appProtocol`, else from the port name's prefix
(`http`, `http-web`, `grpc`, `tcp`, ...), else it sniffs. A port 443 named `http` makes every
sidecar in the mesh build an HTTP route for 443 (route config `443`), and TLS sent to any
host on 443 through a sidecar then meets a plaintext HTTP parser: "wrong version number".
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import SYSTEM_NAMESPACES, AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.why503_context import Why503Context, entry_text
from kubectl_meshdebug.envoy.config_dump import upstream_http_protocol
from kubectl_meshdebug.kube.state import full_name, labels, meta, ref
from kubectl_meshdebug.mesh.protocol import (
    TLS_PORTS,
    follows_convention,
    is_http,
    listener_kind,
    port_protocol,
)
from kubectl_meshdebug.text import one_line

PORT_PROTOCOL_MISMATCH = FindingType(
    "port-protocol-mismatch", "error", "A TLS port (443, 8443, ...) is declared as plaintext HTTP",
    kinds=("Service",), proxy=("listeners", "routes"),
    explains=("route-not-found", "upstream-connect-failure", "upstream-protocol-error"))

HTTP2_PORT_HTTP1_APP = FindingType(
    "http2-port-http1-app", "error",
    "A Service port named http2 or grpc is in front of an app that speaks HTTP/1.1",
    kinds=("Service",), proxy=("clusters", "statuses", "log"),
    explains=("upstream-protocol-error", "app-resets-connection", "failures-unexplained",
              "outlier-ejected"))

PORT_NAME_UNRECOGNIZED = FindingType(
    "port-name-unrecognized", "info",
    "A Service port's name or appProtocol names no protocol Istio knows (IST0118, KIA0601, "
    "KIA0602)", kinds=("Service",))

EXTERNALNAME_PORT_NAME_INVALID = FindingType(
    "externalname-port-name-invalid", "warning",
    "An ExternalName Service port is unnamed, named `tcp`, or names no protocol (IST0150)",
    kinds=("Service",))

PROTOCOL_CONFLICT = FindingType(
    "protocol-conflict", "warning", "One port number is HTTP for some Services and TCP for others",
    kinds=("Service",))


def _ports(svc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = svc.get("spec") if isinstance(svc.get("spec"), dict) else {}
    ports = spec.get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def _port_text(port: dict[str, Any]) -> str:
    return (f"port {port.get('port')} name {port.get('name', '(none)')!r}"
            + (f" appProtocol {port['appProtocol']!r}" if port.get("appProtocol") else "")
            + f" targetPort {port.get('targetPort', port.get('port'))}")


def _svc_type(svc: dict[str, Any]) -> str:
    spec = svc.get("spec") if isinstance(svc.get("spec"), dict) else {}
    return str(spec.get("type") or "ClusterIP")


def _tls_port_offenders(services: list[dict[str, Any]],
                        number: int | None = None) -> list[tuple[dict, dict, str, str]]:
    out = []
    for svc in services:
        for port in _ports(svc):
            proto, how = port_protocol(port)
            if port.get("port") in TLS_PORTS and is_http(proto) and how != "sniffed" and (
                    number is None or port.get("port") == number):
                out.append((svc, port, proto, how))
    return out


def port_protocol_mismatch_audit(ctx: AuditContext) -> list[Finding]:
    findings = []
    for svc, port, proto, how in _tls_port_offenders(ctx.list("Service")):
        number = port.get("port")
        findings.append(PORT_PROTOCOL_MISMATCH(
            f"{ref(svc)} declares port {number} as {proto} (by its {how}): every sidecar in the "
            f"mesh builds an HTTP route for port {number}, so HTTPS/TLS calls to any host on "
            f"{number} through a sidecar fail ('wrong version number')",
            [Evidence(ref(svc), _port_text(port))],
            fix=(f"If the port carries TLS, say so: name it 'https' (or set appProtocol: "
                 f"https):\n  ports:\n  - name: https\n    port: {number}\n"
                 f"    targetPort: {one_line(port.get('targetPort', number))}\n"
                 f"Then check: kubectl meshdebug routes POD --name {number}"),
            resource=ref(svc), weight=3))
    return findings


def port_protocol_mismatch_call(ctx: Why503Context) -> list[Finding]:
    if ctx.state is None or ctx.target.port not in TLS_PORTS:
        return []
    offenders = _tls_port_offenders(ctx.state.list("Service"), ctx.target.port)
    if not offenders:
        return []
    http_listener = [name for name, chain in ctx.listener_chains if chain.route_config]
    if http_listener and not any(chain.catches_tls for _, chain in ctx.listener_chains):
        # istiod (1.2x and later) matches its HTTP chain on what http_inspector saw
        # (http/1.1, h2c) and sends the rest, TLS included, through its default chain to
        # PassthroughCluster: the port's name does not break TLS on this proxy
        return []
    evidence = [Evidence(ref(svc), f"port {port.get('port')} name {port.get('name')!r} -> "
                                   f"{proto} (by {how})") for svc, port, proto, how in offenders]
    if http_listener:
        vhosts = sorted({r.virtual_host for r in ctx.routes_for_port})
        evidence.append(Evidence(f"envoy {ctx.client.label} listeners",
                                 f"{http_listener[0]} is an HTTP listener with route config "
                                 f"{ctx.target.port}: " + ", ".join(vhosts[:5])))
    target_is_victim = ctx.target.external or all(
        svc is not ctx.target.service for svc, *_ in offenders)
    svc, port, *_ = offenders[0]
    return [PORT_PROTOCOL_MISMATCH(
        f"{ref(svc)} names port {ctx.target.port} '{port.get('name')}', so every sidecar treats "
        f"port {ctx.target.port} as plaintext HTTP: TLS to {ctx.target.label} through the "
        "sidecar meets an HTTP parser and fails ('wrong version number', or a 400/404)",
        evidence,
        fix=(f"Rename the port to 'https' (or set appProtocol: https) in "
             f"{ref(svc)}:\n  ports:\n  - name: https\n    port: {ctx.target.port}\n"
             f"    targetPort: {one_line(port.get('targetPort', ctx.target.port))}"),
        resource=ref(svc), weight=9 if target_is_victim else 5)]


def port_name_unrecognized(ctx: AuditContext) -> list[Finding]:
    findings = []
    for svc in ctx.list("Service"):
        if meta(svc).get("namespace") in SYSTEM_NAMESPACES or _svc_type(svc) == "ExternalName":
            continue
        if "gateway.istio.io/managed" in labels(svc):  # Istio's own gateways and waypoints
            continue
        for port in _ports(svc):
            if follows_convention(port):
                continue
            what = (f"appProtocol {one_line(str(port['appProtocol']))!r}"
                    if port.get("appProtocol") is not None else
                    f"({one_line(str(port.get('name') or 'no name'))})")
            findings.append(PORT_NAME_UNRECOGNIZED(
                f"{ref(svc)} port {port.get('port')} {what} names no protocol Istio knows: "
                "Istio will sniff it, which adds latency and cannot work for server-first "
                "protocols",
                [Evidence(ref(svc), _port_text(port))],
                fix="Name the port <protocol>[-suffix] (http, http2, grpc, tcp, tls, https, "
                    "mongo, mysql, redis) or set appProtocol.",
                resource=ref(svc)))
    return findings


def externalname_port_name_invalid(ctx: AuditContext) -> list[Finding]:
    """IST0150: for ExternalName Services istiod builds a passthrough-style route by the
    port's protocol; an unnamed port, or one named plainly `tcp`, leaves the proxy unable
    to forward TCP to it reliably."""
    findings = []
    for svc in ctx.list("Service"):
        if _svc_type(svc) != "ExternalName" or meta(svc).get("namespace") in SYSTEM_NAMESPACES:
            continue
        for port in _ports(svc):
            if follows_convention(port) and port.get("name") != "tcp":
                continue
            findings.append(EXTERNALNAME_PORT_NAME_INVALID(
                f"ExternalName {ref(svc)} port {port.get('port')} "
                f"({port.get('name') or 'no name'}): the sidecar may not forward TCP on it, nor "
                "traffic that matches no route, to "
                f"{(svc.get('spec') or {}).get('externalName', 'the external name')}",
                [Evidence(ref(svc), _port_text(port) + " type ExternalName")],
                fix="Name the port by the protocol it really carries, e.g. https, tls or http "
                    "(or set appProtocol):\n  ports:\n  - name: https\n"
                    f"    port: {port.get('port')}",
                resource=ref(svc), weight=2))
    return findings


def protocol_conflict(ctx: AuditContext, only_port: int | None = None) -> list[Finding]:
    by_port: dict[int, dict[str, list[str]]] = {}
    objects: dict[int, list[dict]] = {}
    for svc in ctx.list("Service"):
        if _svc_type(svc) == "ExternalName":
            continue
        for port in _ports(svc):
            kind = listener_kind(port_protocol(port)[0])
            number = port.get("port")
            if kind == "sniffed" or not isinstance(number, int) or (
                    only_port is not None and number != only_port):
                continue
            name = full_name(svc)
            by_port.setdefault(number, {}).setdefault(kind, []).append(name)
            objects.setdefault(number, []).append(svc)
    findings = []
    for number, kinds in sorted(by_port.items()):
        if len(kinds) < 2:
            continue
        in_scope = [s for s in objects[number] if ctx.in_scope(s)]
        if not in_scope:
            continue
        http, tcp = sorted(kinds.get("HTTP", [])), sorted(kinds.get("TCP", []))
        findings.append(PROTOCOL_CONFLICT(
            f"port {number} is HTTP for {', '.join(http)} but TCP/TLS for {', '.join(tcp)}: "
            f"sidecars share one outbound listener 0.0.0.0_{number}, and traffic that matches "
            "no Service address is handled by whichever protocol wins",
            [Evidence(f"Service {n}", f"port {number} is {k}")
             for k, names in sorted(kinds.items()) for n in names],
            fix="Use one protocol per port number across the mesh where you can, and name "
                "ports by their real protocol.",
            resource=ref(in_scope[0])))
    return findings


def protocol_conflict_call(ctx: Why503Context) -> list[Finding]:
    """The audit check, for the call's port only: it explains odd routing on that port."""
    if ctx.state is None:
        return []
    return protocol_conflict(AuditContext(ctx.state, None), only_port=ctx.target.port)


def h2_to_app(ctx: Why503Context) -> tuple[dict[str, Any], str, str] | None:
    """(the Service port, its protocol, how Istio read it) when the call's port is HTTP2 or
    GRPC by name or appProtocol, so that the server sidecars speak h2c to the app."""
    port = ctx.target.service_port
    if not isinstance(port, dict) or ctx.target.service is None:
        return None
    proto, how = port_protocol(port)
    return (port, proto, how) if proto in ("HTTP2", "GRPC") else None


def http2_port_http1_app(ctx: Why503Context) -> list[Finding]:
    """Istio takes `http2-*`/`grpc-*` (or that appProtocol) to mean the app speaks HTTP/2:
    the server sidecar's inbound cluster speaks h2c to it. An HTTP/1.1 app cannot parse
    the HTTP/2 preface, so its sidecar resets with a protocol error (502 UPE there, a plain
    502 at the caller): the app's headers are not at fault, the port's name is."""
    h2_port = h2_to_app(ctx)
    if h2_port is None:
        return []
    port, proto, how = h2_port
    number = ctx.target_port
    evidence: list[Evidence] = []
    for server in ctx.servers:
        h2 = [rec.name for rec in server.clusters() if rec.name.startswith(f"inbound|{number}|")
              and upstream_http_protocol(rec.raw) == "h2"]
        if not h2:
            continue
        broken = [e for e in ctx.server_entries(server)
                  if "UPE" in e.flags or "protocol_error" in e.details]
        statuses = server.statuses or {}
        errors = sum(h.stats.get("rq_error", 0) for name in h2
                     for h in (statuses.get(name).hosts if name in statuses else []))
        if not broken and not errors:
            continue
        evidence.append(Evidence(f"envoy {server.label} clusters",
                                 f"{h2[0]}: speaks HTTP/2 (h2c) to the app"))
        evidence += [Evidence(f"envoy {server.label} access log", entry_text(e))
                     for e in broken[-2:]]
        if errors and not broken:
            evidence.append(Evidence(f"envoy {server.label} /clusters",
                                     f"{h2[0]}: rq_error {errors}"))
    if not evidence:
        return []
    caller = [e for e in ctx.failures() if e.status == 502][-1:]
    evidence += [Evidence(f"envoy {ctx.client.label} access log", entry_text(e)) for e in caller]
    svc = ctx.target.service
    where = "appProtocol" if how == "appProtocol" else "name"
    value = port.get("appProtocol") if how == "appProtocol" else port.get("name")
    evidence.insert(0, Evidence(ref(svc), f"port {port.get('port')} {where} {value!r}: "
                                f"Istio reads {proto}"))
    name = one_line(str(value))
    fixed = "http" + name[len(name.split("-", 1)[0]):] if how == "name" else "http"
    return [HTTP2_PORT_HTTP1_APP(
        f"{ref(svc)} port {port.get('port')} is {proto} by its {where} {value!r}, so the "
        f"server sidecar speaks HTTP/2 (h2c) to the app on port {number}; the app answers in "
        "HTTP/1.1 and its sidecar resets the call with a protocol error (502 UPE at the "
        "server sidecar, a plain 502 at the caller)",
        evidence,
        fix=(f"If the app speaks HTTP/1.1, name the port {fixed!r} (or set appProtocol: "
             f"http) in {ref(svc)}:\n  ports:\n  - name: {fixed}\n    port: "
             f"{port.get('port')}\nIf it should speak HTTP/2, make it accept h2c (prior "
             "knowledge) on that port."),
        resource=ref(svc), weight=10)]
