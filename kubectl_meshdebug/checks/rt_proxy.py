"""Is the client's proxy itself healthy: ready, connected, its config accepted?"""

from __future__ import annotations

from kubectl_meshdebug.checks.finding import Evidence, Finding
from kubectl_meshdebug.checks.registry import CheckInfo, runtime_check
from kubectl_meshdebug.checks.why503_context import Why503Context


@runtime_check(CheckInfo("proxy-not-ready", "The proxy is not ready or lost its control plane",
                         (), audit=False))
def proxy_not_ready(ctx: Why503Context) -> list[Finding]:
    findings = []
    for view in [ctx.client] + ctx.servers:
        if view.ready is None:
            continue
        ready, state = view.ready
        connected = view.stat("control_plane.connected_state")
        evidence = []
        if not ready:
            evidence.append(Evidence(f"envoy {view.label} /ready", state or "not ready"))
        if connected == 0:
            evidence.append(Evidence(f"envoy {view.label} stats",
                                     "control_plane.connected_state 0 (xDS stream down)"))
        fails = view.stat("cluster.xds-grpc.upstream_cx_connect_fail")
        if isinstance(fails, int) and fails and connected == 0:
            evidence.append(Evidence(f"envoy {view.label} stats",
                                     f"cluster.xds-grpc.upstream_cx_connect_fail {fails}"))
        evidence += [Evidence(f"envoy {view.label} log", s.line) for s in view.log_signals
                     if s.kind in ("not-ready", "xds-unreachable")][:3]
        if not evidence or (ready and connected != 0):
            continue
        findings.append(Finding(
            "proxy-not-ready", "error",
            f"the proxy of {view.label} is not ready" + (
                " and has no connection to istiod" if connected == 0 else ""),
            evidence,
            fix="Check istiod is running and reachable on 15012 from the pod, and the "
                "discoveryAddress in the mesh config (e.g. istiod.istio-system.svc:15012); "
                f"then: kubectl meshdebug sync {view.label.split('/')[-1]}",
            resource=f"Pod {view.label}", explains=6 if not ready else 3))
    return findings


@runtime_check(CheckInfo("proxy-config-rejected",
                         "The proxy rejected configuration istiod sent (lds/cds/rds)",
                         (), audit=False))
def proxy_config_rejected(ctx: Why503Context) -> list[Finding]:
    view = ctx.client
    evidence = []
    for name, value in sorted(view.stats_matching(r"update_rejected$").items()):
        if isinstance(value, int) and value > 0:
            evidence.append(Evidence(f"envoy {view.label} stats", f"{name} {value}"))
    missing_rds = sorted({chain.route_config for _, chain in ctx.listener_chains
                          if chain.route_config
                          and chain.route_config not in ctx.route_configs_present})
    for name in missing_rds:
        evidence.append(Evidence(
            f"envoy {view.label} config_dump",
            f"listener for port {ctx.target.port} uses route config {name!r}, which the proxy "
            "does not have (rejected, or never received): every request on it is 404 NR"))
    evidence += [Evidence(f"envoy {view.label} log", s.line) for s in view.log_signals
                 if s.kind == "config-rejected"][:3]
    if not evidence:
        return []
    return [Finding(
        "proxy-config-rejected", "error",
        f"the proxy of {view.label} rejected configuration from istiod"
        + (f": route config {', '.join(missing_rds)} is missing, so calls on port "
           f"{ctx.target.port} match no route" if missing_rds else ""),
        evidence,
        fix="Find the object that produced the bad config (often an EnvoyFilter, or two "
            "VirtualServices/Gateways claiming the same domain on one port: 'Only unique values "
            "for domains are permitted'); `istioctl analyze` and istiod's "
            "pilot_total_xds_rejects metric name it. Fix or delete it and the proxy recovers.",
        resource=f"Pod {view.label}", explains=7 if missing_rds else 4)]
