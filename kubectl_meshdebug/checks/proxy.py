"""Is the client's proxy itself healthy: ready, connected, its config accepted?"""

from __future__ import annotations

from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.why503_context import Why503Context
from kubectl_meshdebug.mesh.commands import proxy_hint

PROXY_NOT_READY = FindingType(
    "proxy-not-ready", "error", "The proxy is not ready or lost its control plane",
    proxy=("ready", "stats", "log"),
    explains=("route-not-found", "cluster-not-found", "no-endpoints"))

PROXY_CONFIG_REJECTED = FindingType(
    "proxy-config-rejected", "error", "The proxy rejected configuration istiod sent (lds/cds/rds)",
    proxy=("stats", "listeners", "routes", "clusters", "log"),
    explains=("route-not-found", "cluster-not-found", "no-endpoints", "vs-subset-undefined",
              "subset-no-pods"))


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
        findings.append(PROXY_NOT_READY(
            f"the proxy of {view.label} is not ready" + (
                " and has no connection to istiod" if connected == 0 else ""),
            evidence,
            fix="Check istiod is running and reachable on 15012 from the pod, and the "
                "discoveryAddress in the mesh config (e.g. istiod.istio-system.svc:15012); "
                f"then: {proxy_hint('sync', view.label)}",
            resource=f"Pod {view.label}", weight=6 if not ready else 3))
    return findings


def _rejections(ctx: Why503Context) -> dict[str, int]:
    """`lds`/`cds`/`rds NAME` -> how many updates the client proxy rejected."""
    out: dict[str, int] = {}
    for name, value in ctx.client.stats_matching(r"update_rejected$").items():
        if not isinstance(value, int) or value <= 0:
            continue
        if name.startswith("listener_manager.lds"):
            out["lds"] = value
        elif name.startswith("cluster_manager.cds"):
            out["cds"] = value
        elif ".rds." in name:
            out[f"rds {name.split('.rds.')[1].rsplit('.', 1)[0]}"] = value
        else:
            out[name] = value
    return out


# What a rejection message says about the object behind it, and where to look.
_CAUSES = [
    ("Only unique values for domains", "two VirtualServices (or Gateways) claim the same "
     "host on one port: merge them, or give each its own host"),
    ("Didn't find a registered implementation", "a filter or extension this proxy does not "
     "have, usually added by an EnvoyFilter (or a proxy older than istiod): fix or delete "
     "the EnvoyFilter, or upgrade the proxy"),
    ("Invalid duration", "an invalid value, usually from an EnvoyFilter patch: fix the "
     "patch"),
    ("value must be", "an invalid value, usually from an EnvoyFilter patch: fix the patch"),
    ("duplicate", "two resources of one name, usually an EnvoyFilter that adds what istiod "
     "already made: fix the patch"),
]
_GENERIC = ("find the object that produced the bad config: often an EnvoyFilter, or two "
            "VirtualServices/Gateways claiming the same domain on one port")


def rejection_cause(lines: list[str]) -> str:
    """The likely culprit, from the proxy's own rejection message when there is one."""
    for line in reversed(lines):
        for needle, cause in _CAUSES:
            if needle.lower() in line.lower():
                return cause
    return _GENERIC


def proxy_config_rejected(ctx: Why503Context) -> list[Finding]:
    view = ctx.client
    rejected = _rejections(ctx)
    evidence = [Evidence(f"envoy {view.label} stats", f"{kind} update_rejected {count}")
                for kind, count in sorted(rejected.items())]
    missing_rds = sorted({chain.route_config for _, chain in ctx.listener_chains
                          if chain.route_config
                          and chain.route_config not in ctx.route_configs_present})
    for name in missing_rds:
        evidence.append(Evidence(
            f"envoy {view.label} config_dump",
            f"listener for port {ctx.target.port} uses route config {name!r}, which the proxy "
            "does not have (rejected, or never received): every request on it is 404 NR"))
    no_listener = view.reachable and not ctx.has_outbound_listener and "lds" in rejected
    if no_listener:
        evidence.append(Evidence(
            f"envoy {view.label} config_dump",
            f"no outbound listener for port {ctx.target.port}"))
    missing_cluster = [c for c in ctx.target_clusters
                       if ctx.matched_route is not None and ctx.cluster(c) is None]
    if "cds" in rejected:
        evidence += [Evidence(f"envoy {view.label} config_dump",
                              f"the route's cluster {c} is missing") for c in missing_cluster]
    evidence += [Evidence(f"envoy {view.label} log", s.line) for s in view.log_signals
                 if s.kind == "config-rejected"][:3]
    if not evidence or not (rejected or missing_rds or any(
            s.kind == "config-rejected" for s in view.log_signals)):
        return []
    if missing_rds:
        effect = (f": route config {', '.join(missing_rds)} is missing, so calls on port "
                  f"{ctx.target.port} match no route (404 NR)")
    elif no_listener:
        effect = (f": it holds no outbound listener for port {ctx.target.port}, so the call "
                  "never reaches a route; it leaves through virtualOutbound to "
                  "PassthroughCluster (or BlackHoleCluster under REGISTRY_ONLY)")
    elif "cds" in rejected and missing_cluster:
        effect = (f": cluster {missing_cluster[0]} never arrived, so the route answers 503 NC "
                  "(cluster_not_found) although the Service exists")
    else:
        effect = ""
    cause = rejection_cause([s.line for s in view.log_signals if s.kind == "config-rejected"])
    return [PROXY_CONFIG_REJECTED(
        f"the proxy of {view.label} rejected configuration from istiod{effect}",
        evidence,
        fix=f"The rejected resource comes from {cause}. `istioctl analyze` and istiod's "
            "pilot_total_xds_rejects metric name the proxies affected, and the proxy's log "
            f"says why ({proxy_hint('sync', view.label, '--logs')}); once the "
            "object is fixed, istiod pushes again and the proxy recovers.",
        resource=f"Pod {view.label}", weight=7 if (missing_rds or no_listener or
                                                   missing_cluster) else 4)]
