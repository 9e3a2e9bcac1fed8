"""Several Services over one meshed Deployment that disagree about its ports (istioctl's
deployment.MultiServiceAnalyzer).

A sidecar builds one inbound listener per pod port. Two Services that select the same pods
and give one port number different protocols (TCP and UDP), or map two service ports to the
same targetPort, leave istiod to pick one: one Service's traffic gets the other's
treatment.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import as_dict, full_name, labels, meta, ref
from kubectl_meshdebug.mesh.inmesh import template_in_mesh

Obj = dict[str, Any]

DEPLOYMENT_PORT_PROTOCOLS = FindingType(
    "deployment-port-protocols", "warning",
    "Services of one Deployment use one port with different protocols (IST0116)",
    kinds=("Deployment", "Service", "Namespace"))

DEPLOYMENT_TARGET_PORT_CONFLICT = FindingType(
    "deployment-target-port-conflict", "warning",
    "Services of one Deployment send different ports to one targetPort (IST0137)",
    kinds=("Deployment", "Service", "Namespace"))

SERVICE_PORT_NOT_DECLARED = FindingType(
    "service-port-not-declared", "warning",
    "No container of the Service's meshed workload declares the port it targets (KIA0701)",
    kinds=("Deployment", "StatefulSet", "DaemonSet", "Service", "Namespace"))

WAYPOINT = ("gateway.istio.io/managed", "istio.io-mesh-controller")



def _services(deployment: Obj, services: list[Obj]) -> list[Obj]:
    template = as_dict(as_dict(deployment.get("spec")).get("template"))
    pod_labels = labels(template)
    out = []
    for svc in services:
        selector = as_dict(as_dict(svc.get("spec")).get("selector"))
        if selector and meta(svc).get("namespace") == meta(deployment).get("namespace") and all(
                pod_labels.get(str(k)) == str(v) for k, v in selector.items()):
            out.append(svc)
    return out



def deployment_service_ports(ctx: AuditContext) -> list[Finding]:
    namespaces = {str(meta(n).get("name")): n for n in ctx.list("Namespace")}
    services = ctx.list("Service")
    findings: list[Finding] = []
    for deployment in ctx.list("Deployment"):
        if not ctx.in_scope(deployment) or labels(deployment).get(WAYPOINT[0]) == WAYPOINT[1] \
                or not template_in_mesh(as_dict(as_dict(deployment.get("spec")).get("template")),
                                        namespaces.get(str(meta(deployment).get("namespace")))):
            continue
        protocols: dict[Any, dict[str, list[str]]] = {}
        targets: dict[str, dict[Any, str]] = {}
        for svc in _services(deployment, services):
            for port in as_dict(svc.get("spec")).get("ports") or []:
                if not isinstance(port, dict):
                    continue
                number = port.get("port")
                protocol = str(port.get("protocol") or "TCP")
                protocols.setdefault(number, {}).setdefault(protocol, []).append(full_name(svc))
                target = str(port.get("targetPort") or "") or str(number)
                targets.setdefault("" if target == "0" else target, {})[number] = full_name(svc)
        for number, by_protocol in sorted(protocols.items(), key=lambda kv: str(kv[0])):
            if len(by_protocol) < 2:
                continue
            names = sorted(n for found in by_protocol.values() for n in found)
            findings.append(DEPLOYMENT_PORT_PROTOCOLS(
                f"Deployment {full_name(deployment)} is behind Services {', '.join(names)}, which "
                f"use port {number} with protocols {', '.join(sorted(by_protocol))}: the "
                "sidecar cannot serve both",
                [Evidence(f"Service {n}", f"port {number}/{p}")
                 for p, found in sorted(by_protocol.items()) for n in found],
                fix="Use one protocol per port number across the Services of a workload.",
                resource=ref(deployment)))
        for target, by_port in sorted(targets.items()):
            if len(by_port) < 2:
                continue
            findings.append(DEPLOYMENT_TARGET_PORT_CONFLICT(
                f"Deployment {full_name(deployment)} is behind Services "
                f"{', '.join(sorted(set(by_port.values())))}, which send ports "
                f"{', '.join(str(p) for p in sorted(by_port, key=str))} to targetPort {target}: "
                "the sidecar's inbound listener for it takes one Service's settings",
                [Evidence(f"Service {n}", f"port {p} -> targetPort {target}")
                 for p, n in sorted(by_port.items(), key=lambda kv: str(kv[0]))],
                fix="Map each targetPort from one service port number.",
                resource=ref(deployment)))
    return findings


def _declares(template: Obj, port: Obj) -> bool:
    """Whether a container port answers the Service port: by name for a named
    targetPort, else by number (targetPort, or the port itself)."""
    target = port.get("targetPort")
    containers = as_dict(template.get("spec")).get("containers")
    declared = [p for c in (containers if isinstance(containers, list) else [])
                for p in (as_dict(c).get("ports") or []) if isinstance(p, dict)]
    if isinstance(target, str) and target and not target.isdecimal():
        return any(p.get("name") == target for p in declared)
    number = int(target) if isinstance(target, (int, str)) and str(target).isdecimal() \
        and int(target) > 0 else port.get("port")
    return any(p.get("containerPort") == number for p in declared)


def service_ports_declared(ctx: AuditContext) -> list[Finding]:
    """Kiali's PortMappingChecker: a meshed workload behind the Service that declares no
    container port for one of its ports. The sidecar builds the inbound listener from the
    Service port anyway, but a named targetPort that no container has leaves the Service
    with no endpoints for that port, and a number nobody declares is usually a typo
    (the symptom: 503 UF, connection refused, on that port only)."""
    namespaces = {str(meta(n).get("name")): n for n in ctx.list("Namespace")}
    templates = [(w, as_dict(as_dict(w.get("spec")).get("template")))
                 for kind in ("Deployment", "StatefulSet", "DaemonSet") for w in ctx.list(kind)]
    findings: list[Finding] = []
    for svc in ctx.list("Service"):
        namespace = str(meta(svc).get("namespace") or "")
        spec = as_dict(svc.get("spec"))
        selector = as_dict(spec.get("selector"))
        if not ctx.in_scope(svc) or not selector or namespace == ctx.state.istio_namespace \
                or labels(svc).get(WAYPOINT[0]) or "istio" in labels(svc) \
                or labels(svc).get("kiali_wizard"):
            continue
        backing = [(w, t) for w, t in templates if meta(w).get("namespace") == namespace
                   and template_in_mesh(t, namespaces.get(namespace))
                   and all(labels(t).get(str(k)) == str(v) for k, v in selector.items())]
        if not backing:
            continue
        for port in spec.get("ports") or []:
            if not isinstance(port, dict) or str(port.get("protocol") or "TCP").upper() == "UDP":
                continue
            if any(_declares(t, port) for _, t in backing):
                continue
            target = port.get("targetPort", port.get("port"))
            findings.append(SERVICE_PORT_NOT_DECLARED(
                f"{ref(svc)} port {port.get('port')} targets {target!s}, which no container "
                f"of {full_name(backing[0][0])} declares: if the app does not listen there, calls "
                "to this port fail (503 UF, connection refused)",
                [Evidence(ref(svc), f"port {port.get('port')} -> targetPort {target!s}"),
                 Evidence(ref(backing[0][0]), "containerPorts: " + (", ".join(
                     f"{p.get('name') or '-'}/{p.get('containerPort')}"
                     for c in as_dict(backing[0][1].get("spec")).get("containers") or []
                     for p in as_dict(c).get("ports") or [] if isinstance(p, dict)) or "none"))],
                fix="Point targetPort at the port the app listens on, and declare it in the "
                    "container's ports.",
                resource=ref(svc)))
    return findings
