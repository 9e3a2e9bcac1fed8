"""What happens past the route: breakers, outlier ejection, connects, the app's HTTP."""

from __future__ import annotations

import re

from kubectl_meshdebug.checks.finding import Evidence, Finding
from kubectl_meshdebug.checks.registry import CheckInfo, runtime_check
from kubectl_meshdebug.checks.why503_context import Why503Context, entry_text
from kubectl_meshdebug.envoy.accesslog import AccessLogEntry
from kubectl_meshdebug.kube.state import meta, ref
from kubectl_meshdebug.mesh.describe import container_ports, target_port_status


def _entry_text(e: AccessLogEntry) -> str:
    return entry_text(e) + (f" {e.upstream_host}" if e.upstream_host else "")


@runtime_check(CheckInfo("circuit-breaker-overflow",
                         "Circuit breakers (DestinationRule connectionPool) overflow",
                         ("DestinationRule",), audit=False))
def circuit_breaker_overflow(ctx: Why503Context) -> list[Finding]:
    findings = []
    for name in ctx.target_clusters:
        rec = ctx.cluster(name)
        if rec is None:
            continue
        overflow = ctx.failures("UO")
        escaped = re.escape(name)
        stats = {k: v for k, v in ctx.client.stats_matching(
            rf"^cluster\.{escaped}\.(upstream_rq_pending_overflow|upstream_rq_active_overflow|"
            r"upstream_cx_overflow)$").items() if isinstance(v, int) and v > 0}
        small = {k: v for k, v in rec.circuit_breakers.items() if v <= 10}
        if not overflow and not stats:
            if small and not ctx.client.has_log:
                findings.append(Finding(
                    "circuit-breaker-overflow", "info",
                    f"{name} has tight circuit breakers ({small}); without the access log or "
                    "per-cluster stats it is unknown whether they overflow (flag UO)",
                    [Evidence(f"envoy {ctx.client.label} clusters", f"{name}: {small}")],
                    fix="Rerun with --logs (or --log-file), or enable per-cluster stats with "
                        "proxyStatsMatcher, to see UO.", resource=f"Pod {ctx.client.label}"))
            continue
        dr = ctx.destination_rule
        evidence = [Evidence(f"envoy {ctx.client.label} clusters",
                             f"{name}: thresholds {rec.circuit_breakers}")]
        evidence += [Evidence(f"envoy {ctx.client.label} stats", f"{k} {v}")
                     for k, v in sorted(stats.items())]
        evidence += [Evidence(f"envoy {ctx.client.label} access log", _entry_text(e))
                     for e in overflow[-2:]]
        if dr is not None:
            pool = ((dr.get("spec") or {}).get("trafficPolicy") or {}).get("connectionPool")
            evidence.append(Evidence(ref(dr), f"connectionPool: {pool}"))
        findings.append(Finding(
            "circuit-breaker-overflow", "error",
            f"calls to {ctx.target.label} overflow the circuit breakers of {name} "
            f"({len(overflow)} UO responses in the log): Envoy answers 503 "
            "'upstream connect error or disconnect/reset before headers. reset reason: overflow'"
            " without trying the upstream",
            evidence,
            fix=(f"Raise the limits in {ref(dr) if dr else 'the DestinationRule'} "
                 "(connectionPool.tcp.maxConnections, http.http1MaxPendingRequests, "
                 "http.http2MaxRequests) to what the callers really send, or slow the callers "
                 "down; overflow is the breaker working as configured."),
            resource=ref(dr) if dr else f"Pod {ctx.client.label}", explains=8))
    return findings


@runtime_check(CheckInfo("outlier-ejected", "Outlier detection ejected upstream hosts",
                         ("DestinationRule",), audit=False))
def outlier_ejected(ctx: Why503Context) -> list[Finding]:
    findings = []
    for name in ctx.target_clusters:
        status = (ctx.client.statuses or {}).get(name)
        if status is None or not status.hosts:
            continue
        ejected = [h for h in status.hosts if "failed_outlier_check" in h.flags]
        if not ejected:
            continue
        every = len(ejected) == len(status.hosts)
        rec = ctx.cluster(name)
        dr = ctx.destination_rule
        evidence = [Evidence(f"envoy {ctx.client.label} /clusters",
                             f"{h.address}:{h.port} {h.health_text}; rq_error "
                             f"{h.stats.get('rq_error', 0)} of {h.stats.get('rq_total', 0)}")
                    for h in ejected[:4]]
        if rec is not None and rec.outlier:
            evidence.append(Evidence(f"envoy {ctx.client.label} clusters",
                                     f"{name} outlier_detection {rec.outlier}"))
        uh = ctx.failures("UH")
        to_ejected = [e for e in ctx.call_entries if e.status >= 500 and not e.flags
                      and any(e.upstream_host == f"{h.address}:{h.port}" for h in ejected)]
        evidence += [Evidence(f"envoy {ctx.client.label} access log", _entry_text(e))
                     for e in (uh or to_ejected)[-1:]]
        if every and uh:
            effect = "calls get 503 UH (no healthy upstream) until the ejection time passes"
        elif every:
            effect = ("Envoy keeps sending to the ejected hosts (panic routing), so callers see "
                      "the app's own errors until they recover")
        else:
            effect = "the remaining hosts carry all the traffic"
        findings.append(Finding(
            "outlier-ejected", "error" if every else "warning",
            f"outlier detection ejected {'every host' if every else f'{len(ejected)} hosts'} of "
            f"{name} ({len(ejected)}/{len(status.hosts)}): {effect}",
            evidence,
            fix=("The hosts answered 5xx (or failed to connect) in a row: look at why the app "
                 "fails (kubectl meshdebug endpoints POD --status unhealthy). To stop one bad "
                 f"burst from emptying the pool, lower maxEjectionPercent in "
                 f"{ref(dr) if dr else 'the DestinationRule'}'s outlierDetection, or raise "
                 "consecutive5xxErrors."),
            resource=ref(dr) if dr else f"Pod {ctx.client.label}",
            explains=8 if every else 3))
    return findings


@runtime_check(CheckInfo("upstream-protocol-error",
                         "The upstream answered with broken HTTP (502 UPE)", (), audit=False))
def upstream_protocol_error(ctx: Why503Context) -> list[Finding]:
    entries = [e for e in ctx.call_entries if "UPE" in e.flags or "protocol_error" in e.details]
    signals = [s for v in [ctx.client] + ctx.servers for s in v.log_signals
               if s.kind == "protocol-error"]
    if not entries and not signals:
        return []
    evidence = [Evidence(f"envoy {ctx.client.label} access log", _entry_text(e))
                for e in entries[-2:]]
    evidence += [Evidence("envoy log", s.line) for s in signals[:2]]
    parser = next((s.match for s in signals if s.match.startswith(("HPE_", "INVALID"))), "")
    return [Finding(
        "upstream-protocol-error", "error",
        f"the app behind {ctx.target.label} sends a response Envoy's HTTP/1 parser rejects"
        + (f" ({parser})" if parser else "")
        + ": Envoy answers 502 'reset reason: protocol error' (flag UPE). Usually an invalid "
        "header name (a space before the colon, 'Time : x'), or a non-ASCII value",
        evidence,
        fix=("Fix the header in the app's response (names are tokens: no spaces, no UTF-8; "
             "encode file names in Content-Disposition). To see the offending header: "
             f"kubectl meshdebug loglevel {ctx.client.label.split('/')[-1]} "
             "http:debug,client:debug then reproduce."),
        resource=f"Service {ctx.target.namespace}/{ctx.target.name}" if ctx.target.name
        else ctx.target.host, explains=9)]


@runtime_check(CheckInfo("target-port-not-listening",
                         "Nothing listens on the Service's targetPort in the pod", ("Pod",),
                         audit=False))
def target_port_not_listening(ctx: Why503Context) -> list[Finding]:
    findings = []
    port = ctx.target.service_port
    for server in ctx.servers:
        if server.statuses is None:
            continue
        refused = []
        for name, status in server.statuses.items():
            if not name.startswith("inbound|"):
                continue
            for host in status.hosts:
                if host.stats.get("cx_connect_fail", 0) > 0:
                    refused.append((name, host))
        log_refused = [e for e in server.log_entries if "UF" in e.flags
                       and "refused" in (e.transport_failure + e.details).lower()]
        if not refused and not log_refused:
            continue
        evidence = [Evidence(f"envoy {server.label} /clusters",
                             f"{n}: {h.address}:{h.port} cx_connect_fail "
                             f"{h.stats.get('cx_connect_fail')}") for n, h in refused[:2]]
        evidence += [Evidence(f"envoy {server.label} access log", _entry_text(e))
                     for e in log_refused[-1:]]
        declared = ""
        if server.pod is not None and port is not None:
            target, ok = target_port_status(port, server.pod)
            ports = [str(p.get("containerPort")) for p in container_ports(server.pod)]
            if ok is False:
                declared = f"; the pod declares {', '.join(ports)}"
            evidence.append(Evidence(f"Pod {server.label}",
                                     "containerPorts: " + (", ".join(ports) or "(none)")))
            evidence.append(Evidence(f"Service {ctx.target.namespace}/{ctx.target.name}",
                                     f"port {port.get('port')} -> targetPort {target}"))
        findings.append(Finding(
            "target-port-not-listening", "error",
            f"the sidecar of {server.label} forwards to the app on port "
            f"{refused[0][1].port if refused else (port or {}).get('targetPort')}, but nothing "
            f"listens there (connection refused){declared}: the server sidecar answers 503 UF",
            evidence,
            fix=("Make the Service's targetPort the port the app listens on (or make the app "
                 "listen on targetPort), e.g.\n  ports:\n  - name: http\n"
                 f"    port: {(port or {}).get('port')}\n    targetPort: <the app's port>"),
            resource=f"Service {ctx.target.namespace}/{ctx.target.name}", explains=8))
    if findings or ctx.servers and any(s.statuses is not None for s in ctx.servers):
        return findings
    if port is None:
        return []
    for pod in ctx.ready_server_pods[:1]:
        target, ok = target_port_status(port, pod)
        if ok is False:
            ports = [str(p.get("containerPort")) for p in container_ports(pod)]
            findings.append(Finding(
                "target-port-not-listening", "warning",
                f"Service {ctx.target.namespace}/{ctx.target.name} port {port.get('port')} "
                f"targets {target}, which pod {meta(pod).get('name')} does not declare "
                f"({', '.join(ports)})",
                [Evidence(f"Pod {meta(pod).get('namespace')}/{meta(pod).get('name')}",
                          "containerPorts: " + ", ".join(ports))],
                fix="Make targetPort the port the app listens on.",
                resource=f"Service {ctx.target.namespace}/{ctx.target.name}", explains=3))
    return findings


_UTFR = {
    "Connection_refused": "connection refused: nothing listens on the endpoint",
    "HTTP_REQUEST": "the server expected TLS and got plaintext",
    "CERTIFICATE_VERIFY_FAILED": "the server's certificate failed verification (SAN or CA)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server refused the handshake (no client "
                                     "certificate?)",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the client's CA",
    "WRONG_VERSION_NUMBER": "TLS was answered with plaintext",
}


@runtime_check(CheckInfo("upstream-connect-failure",
                         "Connections to the upstream fail (503 UF)", (), audit=False))
def upstream_connect_failure(ctx: Why503Context) -> list[Finding]:
    entries = ctx.failures("UF")
    if not entries:
        return []
    reason = entries[-1].transport_failure + " " + entries[-1].details
    meaning = next((v for k, v in _UTFR.items() if k.lower() in reason.lower()),
                   "see the transport failure reason")
    return [Finding(
        "upstream-connect-failure", "error",
        f"the proxy of {ctx.client.label} cannot connect to {ctx.target.label}'s endpoints "
        f"(503 UF): {meaning}",
        [Evidence(f"envoy {ctx.client.label} access log", _entry_text(e)) for e in entries[-2:]],
        fix="Check the endpoint is up and listening (kubectl meshdebug endpoints POD), and for "
            "TLS failures that the DestinationRule's TLS settings match the server.",
        resource=f"Pod {ctx.client.label}", explains=4)]
