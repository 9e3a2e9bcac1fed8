"""Port protocol as Istio decides it: appProtocol, else the port-name prefix, else sniffing."""

from __future__ import annotations

from typing import Any

# Istio's recognised protocol names (pkg/config/protocol.Parse), lower-cased.
KNOWN = {
    "http": "HTTP", "http2": "HTTP2", "https": "HTTPS", "grpc": "GRPC", "grpc-web": "GRPC-Web",
    "tcp": "TCP", "tls": "TLS", "mongo": "Mongo", "mysql": "MySQL", "redis": "Redis",
    "udp": "UDP", "http_proxy": "HTTP_PROXY",
}
# appProtocol values Kubernetes standardises (the name can never be one of these).
KUBERNETES_APP_PROTOCOLS = {"kubernetes.io/h2c": "HTTP2", "kubernetes.io/ws": "HTTP",
                            "kubernetes.io/wss": "HTTPS"}
# Ports Istio never sniffs: a name it does not recognise means TCP there (SMTP, DNS,
# MySQL, MongoDB), because server-first protocols break under sniffing.
WELL_KNOWN_PORTS = {25, 53, 3306, 27017}
HTTP_FAMILY = {"HTTP", "HTTP2", "GRPC", "GRPC-Web", "HTTP_PROXY"}
TLS_PORTS = {443, 8443, 6443, 9443}


def _parse(name: str) -> str | None:
    return KNOWN.get(name.lower())


def port_protocol(port: dict[str, Any]) -> tuple[str, str]:
    """(protocol, how), as istiod's kube.ConvertProtocol reads a Service port: UDP by
    its protocol; else appProtocol if set (and only it: an appProtocol Istio does not know
    is not rescued by the name), else the name, up to its first `-` (`grpc-web` whole);
    an unknown protocol is TCP on a well-known port and sniffed elsewhere. how is
    `protocol`, `appProtocol`, `name`, `well-known port` or `sniffed`."""
    if str(port.get("protocol") or "TCP").upper() == "UDP":
        return "UDP", "protocol"
    app = port.get("appProtocol")
    name, how = (str(app), "appProtocol") if app is not None else (
        str(port.get("name") or ""), "name")
    if how == "appProtocol" and name in KUBERNETES_APP_PROTOCOLS:
        return KUBERNETES_APP_PROTOCOLS[name], how
    if name[:8].lower() == "grpc-web":
        return "GRPC-Web", how
    proto = _parse(name.split("-", 1)[0])
    if proto:
        return proto, how
    if port.get("port") in WELL_KNOWN_PORTS:
        return "TCP", "well-known port"
    return "Unknown", "sniffed"


def follows_convention(port: dict[str, Any]) -> bool:
    """IST0118's rule: Istio does not have to sniff the port (its name or appProtocol
    names a protocol Istio knows, it is UDP, or a well-known port)."""
    return port_protocol(port)[1] != "sniffed"


def is_http(proto: str) -> bool:
    return proto in HTTP_FAMILY


def listener_kind(proto: str) -> str:
    """What a sidecar builds for the port: HTTP (routes), TCP (filter chain) or sniffed."""
    if is_http(proto):
        return "HTTP"
    if proto == "Unknown":
        return "sniffed"
    return "TCP"
