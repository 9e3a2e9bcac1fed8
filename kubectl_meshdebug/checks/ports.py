"""Service ports whose protocol Istio reads wrongly, or cannot read at all.

Istio takes a port's protocol from `appProtocol`, else from the port name's prefix
(`http`, `http-web`, `grpc`, `tcp`, ...), else it sniffs. A port 443 named `http` makes every
sidecar in the mesh build an HTTP route for 443 (route config `443`), and TLS sent to any
host on 443 through a sidecar then meets a plaintext HTTP parser: "wrong version number".
"""

from __future__ import annotations

from kubectl_meshdebug.checks.context import SYSTEM_NAMESPACES, AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding
from kubectl_meshdebug.checks.registry import CheckInfo, audit_check
from kubectl_meshdebug.kube.state import labels, meta, ref
from kubectl_meshdebug.mesh.protocol import (
    TLS_PORTS,
    follows_convention,
    is_http,
    listener_kind,
    port_protocol,
)


def _port_text(port: dict) -> str:
    return (f"port {port.get('port')} name {port.get('name', '(none)')!r}"
            + (f" appProtocol {port['appProtocol']!r}" if port.get("appProtocol") else "")
            + f" targetPort {port.get('targetPort', port.get('port'))}")


@audit_check(CheckInfo("port-protocol-mismatch",
                       "A TLS port (443, 8443, ...) is declared as plaintext HTTP",
                       ("Service",), audit=True))
def port_protocol_mismatch(ctx: AuditContext) -> list[Finding]:
    findings = []
    for svc in ctx.list("Service"):
        for port in (svc.get("spec") or {}).get("ports") or []:
            proto, how = port_protocol(port)
            number = port.get("port")
            if number in TLS_PORTS and is_http(proto) and how != "sniffed":
                name = meta(svc).get("name")
                findings.append(Finding(
                    "port-protocol-mismatch", "error",
                    f"Service {meta(svc).get('namespace')}/{name} declares port {number} as "
                    f"{proto} (by its {how}): every sidecar in the mesh builds an HTTP route for "
                    f"port {number}, so HTTPS/TLS calls to any host on {number} through a sidecar "
                    "fail ('wrong version number')",
                    [Evidence(ref(svc), _port_text(port))],
                    fix=(f"If the port carries TLS, say so: name it 'https' (or set appProtocol: "
                         f"https):\n  ports:\n  - name: https\n    port: {number}\n"
                         f"    targetPort: {port.get('targetPort', number)}\n"
                         f"Then check: kubectl meshdebug routes POD --name {number}"),
                    resource=ref(svc), explains=3))
    return findings


@audit_check(CheckInfo("port-name-unrecognized",
                       "A Service port name names no protocol Istio knows (IST0118)",
                       ("Service",), audit=True))
def port_name_unrecognized(ctx: AuditContext) -> list[Finding]:
    findings = []
    for svc in ctx.list("Service"):
        spec = svc.get("spec") or {}
        if meta(svc).get("namespace") in SYSTEM_NAMESPACES or spec.get("type") == "ExternalName":
            continue
        if "gateway.istio.io/managed" in labels(svc):  # Istio's own gateways and waypoints
            continue
        for port in spec.get("ports") or []:
            if follows_convention(port):
                continue
            findings.append(Finding(
                "port-name-unrecognized", "info",
                f"Service {meta(svc).get('namespace')}/{meta(svc).get('name')} port "
                f"{port.get('port')} ({port.get('name') or 'no name'}) names no protocol: "
                "Istio will sniff it, which adds latency and cannot work for server-first "
                "protocols",
                [Evidence(ref(svc), _port_text(port))],
                fix="Name the port <protocol>[-suffix] (http, http2, grpc, tcp, tls, https, "
                    "mongo, mysql, redis) or set appProtocol.",
                resource=ref(svc)))
    return findings


@audit_check(CheckInfo("protocol-conflict",
                       "One port number is HTTP for some Services and TCP for others",
                       ("Service",), audit=True))
def protocol_conflict(ctx: AuditContext) -> list[Finding]:
    by_port: dict[int, dict[str, list[str]]] = {}
    objects: dict[int, list[dict]] = {}
    for svc in ctx.list("Service"):
        if (svc.get("spec") or {}).get("type") == "ExternalName":
            continue
        for port in (svc.get("spec") or {}).get("ports") or []:
            kind = listener_kind(port_protocol(port)[0])
            if kind == "sniffed":
                continue
            number = int(port.get("port") or 0)
            name = f"{meta(svc).get('namespace')}/{meta(svc).get('name')}"
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
        findings.append(Finding(
            "protocol-conflict", "warning",
            f"port {number} is HTTP for {', '.join(http)} but TCP/TLS for {', '.join(tcp)}: "
            f"sidecars share one outbound listener 0.0.0.0_{number}, and traffic that matches "
            "no Service address is handled by whichever protocol wins",
            [Evidence(f"Service {n}", f"port {number} is {k}")
             for k, names in sorted(kinds.items()) for n in names],
            fix="Use one protocol per port number across the mesh where you can, and name "
                "ports by their real protocol.",
            resource=f"Service {in_scope[0]['metadata'].get('namespace')}/"
                     f"{in_scope[0]['metadata'].get('name')}"))
    return findings
