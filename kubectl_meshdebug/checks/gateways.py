"""Istio Gateways that cannot take the traffic they were written for (istioctl's
gateway.IngressGatewayPortAnalyzer, ConflictingGatewayAnalyzer and CertificateAnalyzer).

A Gateway configures the gateway pods its selector matches, on the ports it lists: with
no such pod it configures nothing; with a port no Service of those pods exposes, traffic
never reaches the listener; two Gateways claiming one host on one port of the same pods
conflict, and istiod keeps one; two servers sharing one certificate break HTTP/2
connection reuse across them (404s on the second host).
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.selectors import selector_text
from kubectl_meshdebug.kube.state import full_name, meta, ref, selects
from kubectl_meshdebug.mesh.commands import kubectl_hint
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

GATEWAY_SELECTOR_NO_PODS = FindingType(
    "gateway-selector-no-pods", "error",
    "A Gateway's selector matches no gateway pod (IST0101, KIA0302)",
    kinds=("Gateway", "Pod"))

GATEWAY_PORT_NOT_ON_SERVICE = FindingType(
    "gateway-port-not-on-service", "warning",
    "A Gateway listens on a port no Service of its gateway pods exposes (IST0162)",
    kinds=("Gateway", "Pod", "Service"))

GATEWAY_CONFLICT = FindingType(
    "gateway-conflict", "error",
    "Two Gateways claim the same host on the same port of the same pods (IST0145, KIA0301)",
    kinds=("Gateway", "Pod", "Service"))

GATEWAY_DUPLICATE_CERTIFICATE = FindingType(
    "gateway-duplicate-certificate", "warning",
    "Servers of several Gateways use one certificate (IST0138)",
    kinds=("Gateway",))


def istio_gateways(ctx: AuditContext) -> list[Obj]:
    """networking.istio.io Gateways (files may also hold Gateway API ones, same kind)."""
    return [g for g in ctx.list("Gateway")
            if not str(g.get("apiVersion", "")).startswith("gateway.networking.k8s.io/")]


GATEWAY_CREDENTIAL_NOT_FOUND = FindingType(
    "gateway-credential-not-found", "error",
    "A Gateway's credentialName names no Secret in the gateway pods' namespace (IST0101)",
    kinds=("Gateway", "Pod", "Service", "Secret"))


def _default_ingress(namespace: str) -> tuple[Obj, Obj]:
    """The ingress gateway `istioctl analyze` assumes when it reads files only
    (pkg/config/analysis/local/defaults.go): a pod labelled istio: ingressgateway and the
    Service istio-ingressgateway with Istio's default ports, in the Istio namespace."""
    selector = {"istio": "ingressgateway"}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "istio-ingressgateway-dummypod", "namespace": namespace,
                        "labels": dict(selector)}}
    ports = [{"name": name, "port": port, "protocol": "TCP", "targetPort": port}
             for name, port in (("http2", 80), ("https", 443), ("tcp", 31400),
                                ("tls", 15443))]
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "istio-ingressgateway", "namespace": namespace},
               "spec": {"ports": ports, "selector": dict(selector)}}
    return pod, service


def gateway_workloads(ctx: AuditContext) -> tuple[list[Obj], list[Obj]]:
    """(pods, services) the Gateway checks match against: the cluster's, or with -f the
    files' plus the default ingress gateway, as istioctl analyze does with files only."""
    pods, services = ctx.list("Pod"), ctx.list("Service")
    if ctx.state.live:
        return pods, services
    namespace = ctx.state.istio_namespace
    pod, service = _default_ingress(namespace)
    if not any(meta(s).get("namespace") == namespace
               and meta(s).get("name") == meta(service)["name"] for s in services):
        pods, services = [*pods, pod], [*services, service]
    return pods, services


def _selector(gateway: Obj) -> dict[str, str]:
    spec = gateway.get("spec") if isinstance(gateway.get("spec"), dict) else {}
    found = spec.get("selector")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _servers(gateway: Obj) -> list[Obj]:
    spec = gateway.get("spec") if isinstance(gateway.get("spec"), dict) else {}
    return [s for s in spec.get("servers") or [] if isinstance(s, dict)]


def _port_number(server: Obj) -> int:
    port = server.get("port")
    number = port.get("number") if isinstance(port, dict) else None
    return number if isinstance(number, int) else 0



def gateway_ports(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    pods, services = gateway_workloads(ctx)
    for gateway in istio_gateways(ctx):
        if not ctx.in_scope(gateway):
            continue
        selector = _selector(gateway)
        selected = [p for p in pods if selects(selector, p)]
        if not selected:
            findings.append(GATEWAY_SELECTOR_NO_PODS(
                f"Gateway {full_name(gateway)} selects {selector_text(selector) or 'every pod'}, "
                "which no pod carries: no gateway is configured by it",
                [Evidence(ref(gateway), f"selector: {selector}")],
                fix="Match the labels of the gateway's pods (kubectl get pods -A -l ...), "
                    "e.g. istio: ingressgateway.",
                resource=ref(gateway)))
            continue
        target_ports: set[int] = set()
        service_ports: set[int] = set()
        for pod in selected:
            for svc in services:
                spec = svc.get("spec") if isinstance(svc.get("spec"), dict) else {}
                svc_selector = spec.get("selector")
                if meta(svc).get("namespace") != meta(pod).get("namespace") or not (
                        isinstance(svc_selector, dict) and svc_selector and selects(
                            {str(k): str(v) for k, v in svc_selector.items()}, pod)):
                    continue
                for port in spec.get("ports") or []:
                    if not isinstance(port, dict) or str(port.get("protocol") or "TCP") != "TCP":
                        continue
                    target = port.get("targetPort")
                    if isinstance(target, int) and target:
                        target_ports.add(target)
                        if isinstance(port.get("port"), int):
                            service_ports.add(port["port"])
                    elif isinstance(port.get("port"), int):
                        target_ports.add(port["port"])
        for server in _servers(gateway):
            number = _port_number(server)
            if not isinstance(server.get("port"), dict) or number in target_ports | service_ports:
                continue
            findings.append(GATEWAY_PORT_NOT_ON_SERVICE(
                f"Gateway {full_name(gateway)} listens on port {number}, which no Service of its "
                f"pods ({selector_text(selector)}) exposes: traffic never reaches it",
                [Evidence(ref(gateway), f"server port {number}"),
                 Evidence("Services of the gateway pods",
                          f"target ports {sorted(target_ports) or 'none'}")],
                fix=f"Expose port {number} on the gateway's Service (targetPort {number}), "
                    "or use a port the Service already has.",
                resource=ref(gateway)))
    return findings


def gateway_conflicts(ctx: AuditContext) -> list[Finding]:
    """Istio's ConflictingGatewayAnalyzer: same pods (same selector, or selectors that
    contain one another and share a pod), same port, a host listed by both with the same
    bind address."""
    gateways = istio_gateways(ctx)
    pods = gateway_workloads(ctx)[0]
    findings: list[Finding] = []
    for gateway in gateways:
        if not ctx.in_scope(gateway):
            continue
        mine = _selector(gateway)
        text = selector_text(mine)
        peers = []
        for other in gateways:
            if other is gateway:
                continue
            theirs = _selector(other)
            other_text = selector_text(theirs)
            if other_text == text or ((text in other_text or other_text in text) and any(
                    selects(mine, p) and selects(theirs, p) for p in pods)):
                peers.append(other)
        for server in _servers(gateway):
            number = _port_number(server)
            hosts = [str(h) for h in server.get("hosts") or []]
            bind = str(server.get("bind") or "")
            clashing = sorted({full_name(o) for o in peers for s in _servers(o)
                               if _port_number(s) == number and str(s.get("bind") or "") == bind
                               and set(hosts) & {str(h) for h in s.get("hosts") or []}})
            if not clashing:
                continue
            findings.append(GATEWAY_CONFLICT(
                f"Gateway {full_name(gateway)} and {', '.join(clashing)} both serve "
                f"{', '.join(hosts)} on port {number} of the pods {text or '(all)'}: istiod "
                "keeps one server and drops the other",
                [Evidence(ref(gateway), f"port {number} hosts {hosts}")]
                + [Evidence(f"Gateway {name}", f"port {number}") for name in clashing],
                fix="Serve each host on a port from one Gateway only (merge the servers, or "
                    "give them different hosts or bind addresses).",
                resource=ref(gateway)))
    return findings


def _same_certificate(a: Obj, b: Obj) -> bool:
    """Istio's haveSameCertificate: same credentialName, or same file pair."""
    if a.get("credentialName") and b.get("credentialName"):
        return a["credentialName"] == b["credentialName"]
    if not a.get("credentialName") and not b.get("credentialName"):
        return bool(a.get("serverCertificate") and a.get("serverCertificate") == b.get(
            "serverCertificate") and a.get("privateKey") and a.get("privateKey") == b.get(
            "privateKey"))
    return False


def gateway_duplicate_certificates(ctx: AuditContext) -> list[Finding]:
    """Istio's CertificateAnalyzer: against every Gateway whose selector includes this
    one's (all Gateways when this one selects everything)."""
    gateways = istio_gateways(ctx)
    findings: list[Finding] = []
    for gateway in gateways:
        if not ctx.in_scope(gateway):
            continue
        mine = _selector(gateway)
        for other in gateways:
            theirs = _selector(other)
            if other is gateway or not all(theirs.get(k) == v for k, v in mine.items()):
                continue
            for server in _servers(gateway):
                for other_server in _servers(other):
                    tls, other_tls = server.get("tls"), other_server.get("tls")
                    if not (isinstance(tls, dict) and isinstance(other_tls, dict)
                            and _same_certificate(tls, other_tls)):
                        continue
                    findings.append(GATEWAY_DUPLICATE_CERTIFICATE(
                        f"Gateways {full_name(gateway)} and {full_name(other)} serve with the same "
                        "certificate: browsers reuse one HTTP/2 connection for both hosts and "
                        "get 404 from the Gateway that does not serve the second",
                        [Evidence(ref(gateway), _certificate(tls)),
                         Evidence(ref(other), _certificate(other_tls))],
                        fix="Give each Gateway server its own certificate, or merge the servers "
                            "into one Gateway.",
                        resource=ref(gateway)))
    return findings


def _certificate(tls: Obj) -> str:
    if tls.get("credentialName"):
        return f"tls.credentialName: {tls['credentialName']}"
    return f"tls.serverCertificate: {tls.get('serverCertificate')}"


def gateway_credentials(ctx: AuditContext) -> list[Finding]:
    """istioctl's gateway.SecretAnalyzer: a TLS server's credentialName must name a Secret
    in the namespace of the gateway's pods (where the gateway's pilot-agent reads it), not
    of the Gateway resource. Without it the gateway's SDS secret stays warming and the
    server's TLS handshakes fail. Secrets are read as names only; with -f, only when the
    files hold Secret objects, and live only when every Secret could be listed."""
    from kubectl_meshdebug.checks.inventory import known_kind

    if not known_kind(ctx, "Secret"):
        return []
    secrets = {(str(meta(s).get("namespace")), str(meta(s).get("name")))
               for s in ctx.list("Secret")}
    pods = gateway_workloads(ctx)[0]
    findings: list[Finding] = []
    for gateway in istio_gateways(ctx):
        if not ctx.in_scope(gateway):
            continue
        selector = _selector(gateway)
        pod = next((p for p in pods if selects(selector, p)), None)
        if pod is None:
            continue  # gateway-selector-no-pods says so
        namespace = str(meta(pod).get("namespace") or "")
        for i, server in enumerate(_servers(gateway)):
            tls = server.get("tls") if isinstance(server.get("tls"), dict) else {}
            name = str(tls.get("credentialName") or "")
            if not name:
                continue
            where, _, short = name.rpartition("/")
            if (where or namespace, short) in secrets:
                continue
            elsewhere = sorted(ns for ns, n in secrets if n == short and ns != namespace)
            findings.append(GATEWAY_CREDENTIAL_NOT_FOUND(
                f"Gateway {full_name(gateway)} server {i} (port {_port_number(server)}) names "
                f"credentialName {one_line(name)!r}, but no Secret of that name is in "
                f"{namespace}, where its gateway pods read it: the gateway cannot load the "
                "certificate and TLS to that server fails"
                + (f" (a Secret {one_line(short)} exists in {', '.join(elsewhere[:3])})"
                   if elsewhere else ""),
                [Evidence(ref(gateway), f"servers[{i}].tls.credentialName: {one_line(name)}"),
                 Evidence(f"gateway pod {full_name(pod)}", f"namespace {namespace}")],
                fix=(f"Create the TLS Secret in {namespace} (the gateway pods' namespace):\n"
                     "  " + kubectl_hint("create", "-n", namespace, "secret", "tls", short,
                                         "--cert=CERT.pem", "--key=KEY.pem",
                                         names=(namespace, short))),
                resource=ref(gateway)))
    return findings
