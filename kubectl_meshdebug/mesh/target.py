"""The Service (or external host) a failing call goes to, as the user names it.

`httpbin`, `httpbin.foo`, `httpbin.foo.svc.cluster.local`, `svc/httpbin`, each with an
optional `:PORT`; anything else is an external host (a ServiceEntry, or nothing at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.kube.state import ClusterState, meta
from kubectl_meshdebug.mesh.names import fqdn_parts
from kubectl_meshdebug.mesh.protocol import is_http, port_protocol
from kubectl_meshdebug.numbers import port_number

Obj = dict[str, Any]


@dataclass
class CallTarget:
    host: str  # FQDN for Services, the host as given otherwise
    port: int
    service: Obj | None
    name: str = ""
    namespace: str = ""
    service_port: dict[str, Any] | None = None

    @property
    def external(self) -> bool:
        return self.service is None and not fqdn_parts(self.host)

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def _split_port(text: str) -> tuple[str, int | None]:
    host, sep, port = text.rpartition(":")
    if sep and port_number(port) is not None and (":" not in host or host.startswith("[")):
        return host, port_number(port)
    if sep:
        raise UsageError(f"{text!r}: give HOST:PORT with one port number from 1 to 65535")
    return text, None


def resolve_target(text: str, client_ns: str, state: ClusterState | None) -> CallTarget:
    raw = text[4:] if text.lower().startswith(("svc/", "service/")) else text
    raw = raw.split("/", 1)[1] if raw.lower().startswith("services/") else raw
    host, port = _split_port(raw.strip().lower())
    if not host or any(c.isspace() for c in host):
        raise UsageError(f"{text!r} is not a Service name or host")
    name, namespace = "", ""
    if "." not in host:
        name, namespace = host, client_ns
    elif fqdn_parts(host):
        name, namespace = fqdn_parts(host)  # type: ignore[misc]
    elif host.count(".") in (1, 2) and host.split(".")[-1] == "svc" or host.count(".") == 1:
        candidate_ns = host.split(".")[1]
        if state is None or state.get("Service", candidate_ns, host.split(".")[0]) or any(
                meta(n).get("name") == candidate_ns for n in state.list("Namespace")):
            name, namespace = host.split(".")[0], candidate_ns
    service = state.get("Service", namespace, name) if state is not None and name else None
    fqdn = f"{name}.{namespace}.svc.cluster.local" if name else host
    ports = list((service or {}).get("spec", {}).get("ports") or [])
    chosen = None
    if port is None:
        if not ports:
            raise UsageError(f"say which port of {fqdn} fails, e.g. {text}:8080")
        http_ports = [p for p in ports if is_http(port_protocol(p)[0])]
        chosen = (http_ports or ports)[0]
        port = int(chosen.get("port"))
    else:
        chosen = next((p for p in ports if int(p.get("port", -1)) == port), None)
        if service is not None and chosen is None:
            raise UsageError(
                f"Service {namespace}/{name} has no port {port}",
                hint="its ports: " + ", ".join(str(p.get("port")) for p in ports))
    return CallTarget(fqdn, port, service, name, namespace, chosen)


def target_port_number(service_port: dict[str, Any] | None, pod: Obj | None) -> int | None:
    """The number behind a Service port's targetPort, resolving a named port in the pod."""
    port = service_port or {}
    value = port.get("targetPort", port.get("port"))
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        return int(value)
    spec = (pod or {}).get("spec") if isinstance((pod or {}).get("spec"), dict) else {}
    for container in spec.get("containers") or []:
        for p in (container.get("ports") or []) if isinstance(container, dict) else []:
            if isinstance(p, dict) and p.get("name") == value and isinstance(
                    p.get("containerPort"), int):
                return int(p["containerPort"])
    return None
