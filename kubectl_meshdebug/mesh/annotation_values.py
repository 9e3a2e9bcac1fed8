"""The values istiod's injector accepts for its annotations (pkg/kube/inject/validate.go).

An annotation with a value the injector rejects makes injection fail for the pod, or is
ignored: `readiness.status.sidecar.istio.io/initialDelaySeconds: bar` is caught here, not
by the API server. Each validator returns why the value is wrong, or None.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_INTERFACE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.\-]*$")
_BOOLS = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}


def _uint(value: str, bits: int) -> str | None:
    text = value.strip() if bits == 16 else value
    if not text.isdigit() or int(text) >= 2 ** bits:
        return f"{value!r} is not an unsigned {bits}-bit integer"
    return None


def _ports(value: str) -> str | None:
    value = value.strip()
    for part in value.split(",") if value else []:
        if _uint(part, 16):
            return f"failed parsing port {part!r}"
    return None


def _cidrs(value: str) -> str | None:
    for part in value.split(",") if value else []:
        try:
            ipaddress.ip_network(part, strict=False)
            if "/" not in part:
                raise ValueError(part)
        except ValueError:
            return f"failed parsing cidr {part!r}"
    return None


def _interfaces(value: str) -> str | None:
    for part in value.split(",") if value else []:
        name = part.strip()
        if not name:
            return "empty interface name"
        if len(name) > 15 or not _INTERFACE.match(name):
            return f"invalid interface name {name!r}"
    return None


def _interception(value: str) -> str | None:
    return None if value in ("REDIRECT", "TPROXY", "NONE") else \
        "interceptionMode invalid, use REDIRECT, TPROXY or NONE"


def _quantity(value: str) -> str | None:
    return None if _QUANTITY.match(value) else f"{value!r} is not a resource quantity"


def _bool(value: str) -> str | None:
    return None if value in _BOOLS else f"{value!r} is not a boolean"


def _proxy_config(value: str) -> str | None:
    import yaml

    try:
        doc = yaml.safe_load(value)
    except yaml.YAMLError:
        return "not valid YAML"
    return None if doc is None or isinstance(doc, dict) else "not a ProxyConfig object"


VALIDATORS: dict[str, Callable[[str], str | None]] = {
    "sidecar.istio.io/interceptionMode": _interception,
    "status.sidecar.istio.io/port": lambda v: _uint(v, 16),
    "readiness.status.sidecar.istio.io/initialDelaySeconds": lambda v: _uint(v, 32),
    "readiness.status.sidecar.istio.io/periodSeconds": lambda v: _uint(v, 32),
    "readiness.status.sidecar.istio.io/failureThreshold": lambda v: _uint(v, 32),
    "traffic.sidecar.istio.io/includeOutboundIPRanges": lambda v: None if v == "*" else _cidrs(v),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": _cidrs,
    "traffic.sidecar.istio.io/includeInboundPorts": lambda v: None if v == "*" else _ports(v),
    "traffic.sidecar.istio.io/excludeInboundPorts": _ports,
    "traffic.sidecar.istio.io/excludeOutboundPorts": _ports,
    "traffic.sidecar.istio.io/excludeInterfaces": _interfaces,
    "traffic.sidecar.istio.io/kubevirtInterfaces": _interfaces,
    "istio.io/reroute-virtual-interfaces": _interfaces,
    "prometheus.istio.io/merge-metrics": _bool,
    "proxy.istio.io/config": _proxy_config,
    "sidecar.istio.io/proxyCPU": _quantity,
    "sidecar.istio.io/proxyMemory": _quantity,
    "sidecar.istio.io/proxyCPULimit": _quantity,
    "sidecar.istio.io/proxyMemoryLimit": _quantity,
}


def invalid(name: str, value: str) -> str | None:
    """Why istiod's injector rejects this value of the annotation, or None."""
    check = VALIDATORS.get(name)
    return check(value) if check else None
