"""What happens past the route: breakers, outlier ejection, connects, timeouts, the app.

The client's access log says what the caller saw; the server sidecar's says what the app
did. A 502 or 503 that the client logs as `via_upstream` was made by the server sidecar,
and only its own log names the cause (UPE, UC, UF): both are read when given.
"""

from __future__ import annotations

import re
from typing import Any

from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.ports import http2_port_http1_app
from kubectl_meshdebug.checks.tls import client_sends, server_requires
from kubectl_meshdebug.checks.why503_context import Why503Context, entry_text
from kubectl_meshdebug.envoy.accesslog import AccessLogEntry
from kubectl_meshdebug.envoy.flags import failure_meaning
from kubectl_meshdebug.envoy.protojson import duration_seconds
from kubectl_meshdebug.envoy.stats import cluster_stat_re
from kubectl_meshdebug.kube.state import full_name, meta, ref
from kubectl_meshdebug.mesh.commands import proxy_hint
from kubectl_meshdebug.mesh.correlate import owning_config
from kubectl_meshdebug.mesh.describe import container_ports, target_port_status
from kubectl_meshdebug.text import one_line

CIRCUIT_BREAKER_OVERFLOW = FindingType(
    "circuit-breaker-overflow", "error",
    "Circuit breakers (DestinationRule connectionPool) overflow",
    kinds=("DestinationRule", "ConfigMap", "Service"),
    proxy=("routes", "clusters", "stats", "log"))

OUTLIER_EJECTED = FindingType(
    "outlier-ejected", "error", "Outlier detection ejected upstream hosts",
    kinds=("DestinationRule", "ConfigMap", "Service"),
    proxy=("routes", "clusters", "statuses", "log"),
    explains=("no-endpoints",))

UPSTREAM_PROTOCOL_ERROR = FindingType(
    "upstream-protocol-error", "error", "The upstream answered with broken HTTP (502 UPE)",
    kinds=("Service",), proxy=("log", "clusters", "statuses"),  # + http2-port-http1-app's
    explains=("outlier-ejected",))

TARGET_PORT_NOT_LISTENING = FindingType(
    "target-port-not-listening", "error",
    "Nothing listens on the Service's targetPort in the pod",
    kinds=("Pod", "Service"), proxy=("statuses", "log"),
    # every call fails at the server sidecar: the caller's outlier detection ejects it
    explains=("upstream-connect-failure", "outlier-ejected", "failures-unexplained"))

UPSTREAM_CONNECT_FAILURE = FindingType(
    "upstream-connect-failure", "error", "Connections to the upstream fail (503 UF)",
    proxy=("log",))

ROUTE_TIMEOUT = FindingType(
    "route-timeout", "error",
    "The route's timeout (VirtualService `timeout`) is shorter than the upstream takes (504 UT)",
    kinds=("VirtualService",), proxy=("routes", "clusters", "statuses", "log"))

APP_RESETS_CONNECTION = FindingType(
    "app-resets-connection", "error",
    "The application closes connections the server sidecar still uses (503 UC at the server)",
    kinds=("DestinationRule", "ConfigMap", "Pod", "Service", "PeerAuthentication"),
    proxy=("clusters", "routes", "listeners", "log"), explains=("outlier-ejected",))


def circuit_breaker_overflow(ctx: Why503Context) -> list[Finding]:
    findings = []
    for name in ctx.target_clusters:
        rec = ctx.cluster(name)
        if rec is None:
            continue
        overflow = ctx.failures("UO")
        escaped = re.escape(name)
        stats = {k: v for k, v in ctx.client.stats_matching(
            cluster_stat_re(escaped) + "(upstream_rq_pending_overflow|"
            "upstream_rq_active_overflow|upstream_cx_overflow)$").items() if isinstance(v, int) and v > 0}
        small = {k: v for k, v in rec.circuit_breakers.items() if v <= 10}
        if not overflow and not stats:
            if small and not ctx.client.has_access_lines:
                findings.append(CIRCUIT_BREAKER_OVERFLOW(
                    f"{name} has tight circuit breakers ({small}); without access-log lines "
                    "(a log was " + ("read, but holds none" if ctx.client.has_log else
                                     "not read") + ") or per-cluster stats it is unknown "
                    "whether they overflow (flag UO)",
                    [Evidence(f"envoy {ctx.client.label} clusters", f"{name}: {small}")],
                    fix="Turn access logging on for the client workload (the Telemetry object "
                        "in: kubectl meshdebug explain failures-unexplained) and rerun with "
                        "--logs, or enable per-cluster stats with proxyStatsMatcher, to see UO.",
                    resource=f"Pod {ctx.client.label}",
                    severity="info"))
            continue
        dr = ctx.destination_rule
        evidence = [Evidence(f"envoy {ctx.client.label} clusters",
                             f"{name}: thresholds {rec.circuit_breakers}")]
        evidence += [Evidence(f"envoy {ctx.client.label} stats", f"{k} {v}")
                     for k, v in sorted(stats.items())]
        evidence += [Evidence(f"envoy {ctx.client.label} access log", entry_text(e))
                     for e in overflow[-2:]]
        if dr is not None:
            pool = ((dr.get("spec") or {}).get("trafficPolicy") or {}).get("connectionPool")
            evidence.append(Evidence(ref(dr), f"connectionPool: {pool}"))
        findings.append(CIRCUIT_BREAKER_OVERFLOW(
            f"calls to {ctx.target.label} overflow the circuit breakers of {name} "
            f"({len(overflow)} UO responses in the log): Envoy answers 503 "
            "'upstream connect error or disconnect/reset before headers. reset reason: overflow'"
            " without trying the upstream",
            evidence,
            fix=(f"Raise the limits in {ref(dr) if dr else 'the DestinationRule'} "
                 "(connectionPool.tcp.maxConnections, http.http1MaxPendingRequests, "
                 "http.http2MaxRequests) to what the callers really send, or slow the callers "
                 "down; overflow is the breaker working as configured."),
            resource=ref(dr) if dr else f"Pod {ctx.client.label}", weight=8))
    return findings


def _panic_threshold(raw: dict[str, Any]) -> float:
    """The cluster's healthy panic threshold in percent (Envoy's default is 50)."""
    lb = raw.get("common_lb_config") if isinstance(raw.get("common_lb_config"), dict) else {}
    if "healthy_panic_threshold" not in lb:
        return 50.0
    value = lb.get("healthy_panic_threshold")
    if isinstance(value, dict):
        value = value.get("value", 0)
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 50.0


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
        panic = _panic_threshold(rec.raw) if rec is not None else 50.0
        if rec is not None and rec.outlier:
            evidence.append(Evidence(f"envoy {ctx.client.label} clusters",
                                     f"{name} outlier_detection {rec.outlier}; healthy panic "
                                     f"threshold {panic:g}%"))
        uh = ctx.failures("UH")
        evidence += [Evidence(f"envoy {ctx.client.label} access log", entry_text(e))
                     for e in uh[-1:]]
        healthy_pct = 100.0 * (len(status.hosts) - len(ejected)) / len(status.hosts)
        if every and panic <= 0:
            effect = ("with no host left and no panic threshold (minHealthPercent 0, Istio's "
                      "default), calls get 503 UH (no healthy upstream) until the ejection time "
                      "passes")
        elif healthy_pct < panic:
            effect = (f"fewer than {panic:g}% of the hosts are healthy, so Envoy is in panic "
                      "mode and sends to all of them, ejected ones included: callers see the "
                      "app's own errors")
        else:
            effect = "the remaining hosts carry all the traffic"
        findings.append(OUTLIER_EJECTED(
            f"outlier detection ejected {'every host' if every else f'{len(ejected)} hosts'} of "
            f"{name} ({len(ejected)}/{len(status.hosts)}): {effect}",
            evidence,
            fix=("The hosts answered 5xx (or failed to connect) in a row: look at why the app "
                 "fails (kubectl meshdebug endpoints POD --status unhealthy). To stop one bad "
                 f"burst from emptying the pool, lower maxEjectionPercent in "
                 f"{ref(dr) if dr else 'the DestinationRule'}'s outlierDetection, or raise "
                 "consecutive5xxErrors."),
            resource=ref(dr) if dr else f"Pod {ctx.client.label}",
            severity="error" if every else "warning", weight=8 if every else 3))
    return findings


def _server_lines(ctx: Why503Context, match: Any) -> list[tuple[str, AccessLogEntry]]:
    return [(s.label, e) for s in ctx.servers for e in ctx.server_entries(s) if match(e)]


def upstream_protocol_error(ctx: Why503Context) -> list[Finding]:
    def upe(e: AccessLogEntry) -> bool:
        return "UPE" in e.flags or "protocol_error" in e.details

    entries = [e for e in ctx.call_entries if upe(e)]
    server = _server_lines(ctx, upe)
    if server and http2_port_http1_app(ctx):
        return []  # the port's name makes the sidecar speak HTTP/2: not the app's headers
    signals = [s for v in [ctx.client] + ctx.servers for s in v.log_signals
               if s.kind == "protocol-error"]
    if not entries and not signals and not server:
        return []
    evidence = [Evidence(f"envoy {ctx.client.label} access log", entry_text(e))
                for e in entries[-2:]]
    evidence += [Evidence(f"envoy {label} access log", entry_text(e)) for label, e in server[-2:]]
    evidence += [Evidence("envoy log", s.line) for s in signals[:2]]
    parser = next((s.match for s in signals if s.match.startswith(("HPE_", "INVALID"))), "")
    where = (f"the sidecar of {server[-1][0]} (the app's own sidecar)" if server and not entries
             else "Envoy")
    return [UPSTREAM_PROTOCOL_ERROR(
        f"the app behind {ctx.target.label} sends a response Envoy's HTTP/1 parser rejects"
        + (f" ({parser})" if parser else "")
        + f": {where} answers 502 'reset reason: protocol error' (flag UPE). Usually an invalid "
        "header name (a space before the colon, 'Time : x'), or a non-ASCII value",
        evidence,
        fix=("Fix the header in the app's response (names are tokens: no spaces, no UTF-8; "
             "encode file names in Content-Disposition). To see the offending header: "
             + proxy_hint("loglevel", ctx.client.label, "http:debug,client:debug")
             + " then reproduce."),
        resource=f"Service {ctx.target.namespace}/{ctx.target.name}" if ctx.target.name
        else ctx.target.host, weight=9)]


def target_port_not_listening(ctx: Why503Context) -> list[Finding]:
    findings = []
    port = ctx.target.service_port
    for server in ctx.servers:
        statuses = server.statuses
        if statuses is None and not server.has_log:
            continue
        refused = []
        for name, status in (statuses or {}).items():
            if not name.startswith("inbound|"):
                continue
            for host in status.hosts:
                if host.stats.get("cx_connect_fail", 0) > 0:
                    refused.append((name, host))
        log_refused = [e for e in ctx.server_entries(server) if "UF" in e.flags
                       and "refused" in (e.transport_failure + e.details).lower()]
        if not refused and not log_refused:
            continue
        evidence = [Evidence(f"envoy {server.label} /clusters",
                             f"{n}: {h.address}:{h.port} cx_connect_fail "
                             f"{h.stats.get('cx_connect_fail')}") for n, h in refused[:2]]
        evidence += [Evidence(f"envoy {server.label} access log", entry_text(e))
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
        findings.append(TARGET_PORT_NOT_LISTENING(
            f"the sidecar of {server.label} forwards to the app on port "
            f"{refused[0][1].port if refused else (port or {}).get('targetPort')}, but nothing "
            f"listens there (connection refused){declared}: the server sidecar answers 503 UF",
            evidence,
            fix=("Make the Service's targetPort the port the app listens on (or make the app "
                 "listen on targetPort), e.g.\n  ports:\n  - name: http\n"
                 f"    port: {one_line((port or {}).get('port'))}\n    targetPort: <the app's port>"),
            resource=f"Service {ctx.target.namespace}/{ctx.target.name}", weight=8))
    if findings or ctx.servers and any(s.statuses is not None for s in ctx.servers):
        return findings
    if port is None:
        return []
    for pod in ctx.ready_server_pods[:1]:
        target, ok = target_port_status(port, pod)
        if ok is False:
            ports = [str(p.get("containerPort")) for p in container_ports(pod)]
            findings.append(TARGET_PORT_NOT_LISTENING(
                f"Service {ctx.target.namespace}/{ctx.target.name} port {port.get('port')} "
                f"targets {target}, which pod {meta(pod).get('name')} does not declare "
                f"({', '.join(ports)})",
                [Evidence(f"Pod {full_name(pod)}",
                          "containerPorts: " + ", ".join(ports))],
                fix="Make targetPort the port the app listens on.",
                resource=f"Service {ctx.target.namespace}/{ctx.target.name}",
                severity="warning", weight=3))
    return findings


def upstream_connect_failure(ctx: Why503Context) -> list[Finding]:
    entries = ctx.failures("UF")
    if not entries:
        return []
    reason = entries[-1].transport_failure + " " + entries[-1].details
    meaning = failure_meaning(reason)[1] or "see the transport failure reason"
    return [UPSTREAM_CONNECT_FAILURE(
        f"the proxy of {ctx.client.label} cannot connect to {ctx.target.label}'s endpoints "
        f"(503 UF): {meaning}",
        [Evidence(f"envoy {ctx.client.label} access log", entry_text(e)) for e in entries[-2:]],
        fix="Check the endpoint is up and listening (kubectl meshdebug endpoints POD), and for "
            "TLS failures that the DestinationRule's TLS settings match the server.",
        resource=f"Pod {ctx.client.label}", weight=4)]


def _route_timeout(raw: dict[str, Any]) -> float | None:
    action = raw.get("route") if isinstance(raw.get("route"), dict) else {}
    if "timeout" not in action:
        return 15.0  # Envoy's default route timeout
    return duration_seconds(action.get("timeout"))


def route_timeout(ctx: Why503Context) -> list[Finding]:
    timeouts = [e for e in ctx.call_entries if "UT" in e.flags or e.details == "response_timeout"]
    route = ctx.matched_route
    counted = 0
    for name in ctx.target_clusters:
        status = (ctx.client.statuses or {}).get(name)
        for host in (status.hosts if status else []):
            counted += host.stats.get("rq_timeout", 0)
    if not timeouts and not counted:
        return []
    limit = _route_timeout(route.raw) if route is not None else None
    evidence = []
    if route is not None:
        evidence.append(Evidence(
            f"envoy {ctx.client.label} routes",
            f"route {route.route_config}/{route.virtual_host}: timeout "
            + (f"{limit:g}s" if limit else "none (0s)")))
    evidence += [Evidence(f"envoy {ctx.client.label} access log",
                          entry_text(e) + (f" after {e.duration_ms} ms"
                                           if e.duration_ms is not None else ""))
                 for e in timeouts[-2:]]
    if counted:
        evidence.append(Evidence(f"envoy {ctx.client.label} /clusters",
                                 f"rq_timeout {counted} across the hosts of "
                                 f"{ctx.target_clusters[0]}"))
    vs = owning_config(route.istio) if route is not None else ""
    durations = [e.duration_ms for e in timeouts if e.duration_ms is not None]
    waited = f" after {max(durations)} ms" if durations else ""
    where = vs or "the VirtualService"
    return [ROUTE_TIMEOUT(
        f"calls to {ctx.target.label} give up{waited}: the route's timeout"
        + (f" of {limit:g}s" if limit else "") + " is shorter than the upstream takes to "
        "answer, and Envoy answers 504 'upstream request timeout' (flag UT)",
        evidence,
        fix=(f"Raise the timeout in {where} above what the upstream really needs (its p99), "
             "e.g.\n  http:\n  - route:\n    - destination:\n        host: "
             f"{one_line(ctx.target.name or ctx.target.host)}\n    timeout: 30s\n"
             "or make the upstream answer faster; retries (retries.perTryTimeout) share the "
             "same overall timeout."),
        resource=vs or f"Pod {ctx.client.label}", weight=8)]


def app_resets_connection(ctx: Why503Context) -> list[Finding]:
    def reset(e: AccessLogEntry) -> bool:
        return e.status == 503 and ("UC" in e.flags or "connection_termination" in e.details)

    server = _server_lines(ctx, reset)
    if not server:
        return []
    sends_tls, _cluster, _mode = client_sends(ctx)
    needs, _ = server_requires(ctx)
    if sends_tls is not None and needs is not None and (
            (not sends_tls and needs == "mtls") or (sends_tls and needs == "plaintext")):
        return []  # the TLS checks explain these resets
    dr = ctx.destination_rule
    idle = ""
    if dr is not None:
        pool = ((dr.get("spec") or {}).get("trafficPolicy") or {}).get("connectionPool") or {}
        http = pool.get("http") if isinstance(pool, dict) else None
        if isinstance(http, dict) and http.get("idleTimeout"):
            idle = str(http.get("idleTimeout"))
    client_side = [e for e in ctx.call_entries if e.status == 503]
    evidence = [Evidence(f"envoy {label} access log", entry_text(e)) for label, e in server[-2:]]
    evidence += [Evidence(f"envoy {ctx.client.label} access log", entry_text(e))
                 for e in client_side[-1:]]
    evidence.append(Evidence("TLS", "client and server sidecars agree (no TLS mismatch)"))
    if dr is not None:
        evidence.append(Evidence(ref(dr), f"connectionPool.http.idleTimeout "
                                          f"{idle or 'not set (1h)'}"))
    label = server[-1][0]
    return [APP_RESETS_CONNECTION(
        f"the app behind {ctx.target.label} closes connections that the sidecar of {label} "
        "still reuses: the sidecar logs 503 UC (upstream_reset_before_response_started"
        "{connection_termination}) towards the app. TLS is consistent on both sides; this is "
        "the application's keep-alive, usually shorter than Envoy's idle timeout",
        evidence,
        fix=("Make the app keep idle connections open longer than Envoy does (its keep-alive "
             "timeout above the sidecar's idle timeout), or make Envoy drop them first with a "
             "shorter idle timeout in the DestinationRule:\n  trafficPolicy:\n"
             "    connectionPool:\n      http:\n        idleTimeout: 30s   # below the app's "
             "keep-alive\nmaxRequestsPerConnection: 1 also avoids reuse, at a cost."),
        resource=f"Service {ctx.target.namespace}/{ctx.target.name}" if ctx.target.name
        else ctx.target.host, weight=8)]
