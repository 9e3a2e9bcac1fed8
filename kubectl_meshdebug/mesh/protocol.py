"""Port protocol as Istio decides it: appProtocol, else the port-name prefix, else sniffing."""

from __future__ import annotations

from typing import Any

# Istio's recognised protocol names (protocol.Parse), lower-cased.
KNOWN = {
    "http": "HTTP", "http2": "HTTP2", "https": "HTTPS", "grpc": "GRPC", "grpc-web": "GRPC-Web",
    "tcp": "TCP", "tls": "TLS", "mongo": "Mongo", "mysql": "MySQL", "redis": "Redis",
    "udp": "UDP", "h2c": "HTTP2", "http_proxy": "HTTP_PROXY", "thrift": "Thrift",
    "hbone": "HBONE",
}
HTTP_FAMILY = {"HTTP", "HTTP2", "GRPC", "GRPC-Web", "HTTP_PROXY"}
TLS_PORTS = {443, 8443, 6443, 9443}


def _parse(name: str) -> str | None:
    return KNOWN.get(name.lower())


def port_protocol(port: dict[str, Any]) -> tuple[str, str]:
    """(protocol, how): how is `appProtocol`, `name`, or `sniffed`."""
    app = port.get("appProtocol")
    if app:
        proto = _parse(str(app).split("/")[-1]) or _parse(str(app).split(".")[0])
        if proto:
            return proto, "appProtocol"
    name = str(port.get("name") or "")
    if name:
        head = name.split("-", 1)[0]
        proto = _parse(name) if name.lower() == "grpc-web" else _parse(head)
        if proto:
            return proto, "name"
    if str(port.get("protocol", "TCP")).upper() == "UDP":
        return "UDP", "protocol"
    return "Unknown", "sniffed"


def follows_convention(port: dict[str, Any]) -> bool:
    """IST0118's rule: the name (or appProtocol) names a protocol Istio knows."""
    proto, how = port_protocol(port)
    return how in ("appProtocol", "name")


def is_http(proto: str) -> bool:
    return proto in HTTP_FAMILY


def listener_kind(proto: str) -> str:
    """What a sidecar builds for the port: HTTP (routes), TCP (filter chain) or sniffed."""
    if is_http(proto):
        return "HTTP"
    if proto == "Unknown":
        return "sniffed"
    return "TCP"
