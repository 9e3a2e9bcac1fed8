"""Does the call find a listener, a virtual host, a cluster, and endpoints behind it?

istiod gives every outbound HTTP route config a catch-all virtual host: `allow_any`
(PassthroughCluster: the call leaves the mesh to its original destination, plaintext and
without the Service's policies) under outboundTrafficPolicy ALLOW_ANY, or `block_all`
(Envoy answers 502) under REGISTRY_ONLY. A host the proxy does not know falls into it.
"""

from __future__ import annotations

from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.routing import SUBSET_NO_PODS, VS_SUBSET_UNDEFINED
from kubectl_meshdebug.checks.why503_context import Why503Context, entry_text
from kubectl_meshdebug.kube.state import labels, ref
from kubectl_meshdebug.mesh.commands import kubectl_hint, proxy_hint
from kubectl_meshdebug.mesh.correlate import owning_config
from kubectl_meshdebug.mesh.hosts import host_matches
from kubectl_meshdebug.mesh.names import fqdn_parts
from kubectl_meshdebug.mesh.protocol import TLS_PORTS
from kubectl_meshdebug.mesh.sidecar import applicable_sidecar, egress_allows, egress_hosts
from kubectl_meshdebug.text import one_line

SIDECAR_EGRESS_HIDES_HOST = FindingType(
    "sidecar-egress-hides-host", "error",
    "A Sidecar resource's egress list hides the host from the client",
    kinds=("Sidecar", "ConfigMap", "Pod", "ServiceEntry"),
    proxy=("clusters", "routes", "listeners", "log"),
    explains=("route-not-found", "cluster-not-found", "upstream-connect-failure"))

ROUTE_NOT_FOUND = FindingType(
    "route-not-found", "error",
    "No virtual host of the port's route config answers the call's Host",
    kinds=("Service", "ServiceEntry", "Namespace"),
    proxy=("listeners", "routes", "clusters", "stats", "log"),
    explains=("upstream-connect-failure",))

CLUSTER_NOT_FOUND = FindingType(
    "cluster-not-found", "error", "The route points at a cluster the proxy does not have",
    kinds=("Service", "ServiceEntry", "DestinationRule", "ConfigMap", "VirtualService"),
    proxy=("routes", "clusters", "log"))

SERVICE_NOT_FOUND = FindingType(
    "service-not-found", "error",
    "The call names a Service that does not exist (and no ServiceEntry declares the host)",
    kinds=("Service", "ServiceEntry", "Namespace"), proxy=(),
    explains=("route-not-found", "cluster-not-found", "no-endpoints",
              "upstream-connect-failure"))

EGRESS_PASSTHROUGH = FindingType(
    "egress-passthrough", "info",
    "A host outside the mesh, without a ServiceEntry, passed through under ALLOW_ANY",
    kinds=("ServiceEntry", "ConfigMap"), proxy=("listeners", "routes", "clusters"),
    explains=("route-not-found",))

EGRESS_BLOCKED = FindingType(
    "egress-blocked", "error",
    "REGISTRY_ONLY blocks a host outside the mesh that no ServiceEntry declares",
    kinds=("ServiceEntry", "ConfigMap"), proxy=("listeners", "routes", "clusters", "log"),
    explains=("route-not-found", "cluster-not-found"))

NO_ENDPOINTS = FindingType(
    "no-endpoints", "error", "The target cluster has no endpoints",
    kinds=("Service", "Pod", "DestinationRule", "ConfigMap"),
    proxy=("routes", "clusters", "statuses", "log"))


def _log_evidence(ctx: Why503Context, flag: str, limit: int = 2) -> list[Evidence]:
    return [Evidence(f"envoy {ctx.client.label} access log", entry_text(e))
            for e in ctx.failures(flag)[-limit:]]


def _catch_all_effect(ctx: Why503Context) -> str:
    route = ctx.catch_all_route
    if route is None:
        return "calls get 404 NR (route_not_found)"
    if route.action.startswith("direct"):
        return (f"the call falls into the catch-all virtual host {route.virtual_host} "
                f"(REGISTRY_ONLY), which answers {route.action.split()[-1]}")
    target = route.clusters[0][0] if route.clusters else route.action
    return (f"the call falls into the catch-all virtual host {route.virtual_host} and leaves "
            f"through {target} to its original destination: plaintext, outside mTLS and the "
            "Service's policies (often a 503 UC/UF at a STRICT server)")


def sidecar_egress_hides_host(ctx: Why503Context) -> list[Finding]:
    if ctx.mesh is None or ctx.mesh.client_pod is None or ctx.state is None:
        return []
    if ctx.target.external and not declared_by_service_entry(ctx, ctx.target.host):
        return []  # nothing to hide: the mesh does not know the host (external_host_egress)
    sidecar = applicable_sidecar(ctx.state, ctx.mesh.mesh.root_namespace, ctx.mesh.client_pod)
    if sidecar is None or egress_allows(sidecar, ctx.target.host, ctx.target.namespace or None):
        return []
    known = ctx.cluster(ctx.target_clusters[0]) is not None
    effect = _catch_all_effect(ctx)
    return [SIDECAR_EGRESS_HIDES_HOST(
        f"{ref(sidecar)} limits what {ctx.client.label} can reach, and "
        f"{ctx.target.host} is not in its egress hosts: the proxy has "
        + ("" if not known else "still ") + f"no route for it, so {effect}",
        [Evidence(ref(sidecar), "egress hosts: " + ", ".join(egress_hosts(sidecar))),
         Evidence(f"envoy {ctx.client.label} config_dump",
                  f"no virtual host for {ctx.target.host} in route config {ctx.target.port}")]
        + _log_evidence(ctx, "NR") + _log_evidence(ctx, "UF", 1) + _log_evidence(ctx, "UC", 1),
        fix=(f"Add the host's namespace to the Sidecar's egress, e.g.\n  egress:\n  - hosts:\n"
             f"    - \"./*\"\n    - \"istio-system/*\"\n"
             f"    - \"{ctx.target.namespace or '*'}/{ctx.target.host}\""),
        resource=ref(sidecar), weight=8)]


def declared_by_service_entry(ctx: Why503Context, host: str) -> bool:
    """Some ServiceEntry (any namespace: exportTo is not looked at) lists the host."""
    if ctx.state is None:
        return False
    for entry in ctx.state.list("ServiceEntry"):
        hosts = (entry.get("spec") or {}).get("hosts") if isinstance(entry.get("spec"),
                                                                     dict) else None
        if isinstance(hosts, list) and any(isinstance(h, str) and host_matches(h, host)
                                           for h in hosts):
            return True
    return False


def _readable(ctx: Why503Context, kind: str, namespace: str | None) -> bool:
    readable = getattr(ctx.state, "readable", None)
    return readable is None or bool(readable(kind, namespace))


def service_not_found(ctx: Why503Context) -> list[Finding]:
    """`why-503 sleep nosuch:8080`: the answer is that nosuch does not exist, not that the
    proxy lacks a route for it (every missing piece after that follows from it)."""
    parts = fqdn_parts(ctx.target.host)
    if ctx.state is None or ctx.target.service is not None or not parts:
        return []
    name, namespace = parts
    if not _readable(ctx, "Service", namespace) or \
            declared_by_service_entry(ctx, ctx.target.host):
        return []
    namespaces = {str((n.get("metadata") or {}).get("name")) for n in ctx.state.list("Namespace")
                  if isinstance(n.get("metadata"), dict)}
    no_namespace = bool(namespaces) and namespace not in namespaces and \
        _readable(ctx, "Namespace", None)
    return [SERVICE_NOT_FOUND(
        f"Service {namespace}/{name} does not exist"
        + (f" (nor does namespace {namespace})" if no_namespace else "")
        + f", and no ServiceEntry declares {ctx.target.host}: there is no such name in "
        "cluster DNS (the app fails to resolve it) and the proxy has no route or cluster for "
        "it; a call by IP or Host header falls through to PassthroughCluster or "
        "BlackHoleCluster",
        [Evidence("Services" if ctx.target.namespace else "objects",
                  f"no Service {name} in namespace {namespace}")],
        fix="Call the Service by a name that exists ("
            + kubectl_hint("get", "services", "-n", namespace, names=[namespace])
            + "), or create it.",
        resource=f"Service {namespace}/{name}", weight=10)]


def external_host_egress(ctx: Why503Context) -> list[Finding]:
    """A host outside the mesh that no ServiceEntry declares: the mesh config's
    outboundTrafficPolicy decides what the sidecar does with it, and was read."""
    if not ctx.target.external or ctx.mesh is None or ctx.state is None or \
            declared_by_service_entry(ctx, ctx.target.host) or ctx.matched_route is not None:
        return []
    mesh = ctx.mesh.mesh
    where = f"outboundTrafficPolicy {mesh.outbound_policy} ({mesh.source})"
    if mesh.outbound_policy == "REGISTRY_ONLY":
        tls = ctx.target.port in TLS_PORTS
        return [EGRESS_BLOCKED(
            f"no ServiceEntry declares {ctx.target.host}, and {where} lets the sidecar of "
            f"{ctx.client.label} reach only hosts the mesh knows: the call goes to "
            "BlackHoleCluster (TCP: reset) or the block_all route (HTTP: 502)",
            [Evidence(mesh.source, "outboundTrafficPolicy.mode: REGISTRY_ONLY")]
            + _log_evidence(ctx, "NR") + _log_evidence(ctx, "UH", 1),
            fix=("Declare the host with a ServiceEntry, e.g.\n"
                 "  apiVersion: networking.istio.io/v1\n  kind: ServiceEntry\n"
                 f"  spec:\n    hosts:\n    - {one_line(ctx.target.host)}\n"
                 "    location: MESH_EXTERNAL\n    resolution: DNS\n    ports:\n"
                 f"    - number: {ctx.target.port}\n"
                 f"      name: {'tls' if tls else 'http'}\n"
                 f"      protocol: {'TLS' if tls else 'HTTP'}"),
            resource=mesh.source, weight=9)]
    return [EGRESS_PASSTHROUGH(
        f"{ctx.target.host} is outside the mesh and no ServiceEntry declares it; under "
        f"{where} the sidecar of {ctx.client.label} passes the call through unchanged "
        "(PassthroughCluster, to the address the app dialled): the mesh neither routes nor "
        "blocks it, so a failure comes from DNS, the network or the destination itself",
        [Evidence(mesh.source, f"outboundTrafficPolicy.mode: {mesh.outbound_policy}")],
        fix="Look outside the mesh (DNS, egress network policy, the destination). Declare a "
            "ServiceEntry to get routing, retries, TLS origination and metrics for it.",
        resource=mesh.source, weight=1)]


def route_not_found(ctx: Why503Context) -> list[Finding]:
    if not ctx.client.reachable or ctx.matched_route is not None or ctx.tcp_path:
        return []
    if ctx.target.external and ctx.mesh is not None and ctx.state is not None and \
            not declared_by_service_entry(ctx, ctx.target.host):
        return []  # external_host_egress says what the mesh config does with it
    if fqdn_parts(ctx.target.host) and ctx.target.service is None and \
            service_not_found(ctx):
        return []  # the Service does not exist: service-not-found says so
    http_chain = any(c.route_config or c.inline_routes for _, c in ctx.listener_chains)
    if ctx.listener_chains and not http_chain:
        return []  # a TCP port: routes do not apply
    if (ctx.target.external and ctx.target.port in TLS_PORTS and ctx.listener_chains
            and not any(c.catches_tls for _, c in ctx.listener_chains)):
        return []  # TLS to a host outside the mesh takes the listener's non-HTTP chain
    present = [n for n in ctx.route_config_names if n in ctx.route_configs_present]
    if ctx.is_gateway:
        return [ROUTE_NOT_FOUND(
            f"no route of the gateway {ctx.client.label} sends to {ctx.target.label}: no "
            "VirtualService bound to its Gateway (spec.gateways) routes there, so calls get "
            "404 NR",
            [Evidence(f"envoy {ctx.client.label} config_dump",
                      f"route configs {', '.join(present[:4])}: no route to "
                      f"{ctx.target.host} port {ctx.target.port}")] + _log_evidence(ctx, "NR"),
            fix="Bind a VirtualService to the Gateway (spec.gateways: [NAMESPACE/GATEWAY]), "
                "with the hosts the Gateway serves, routing to this Service's host and port.",
            resource=f"Pod {ctx.client.label}", weight=5)]
    if not ctx.listener_chains:
        rejected = any(isinstance(v, int) and v > 0 for v in
                       ctx.client.stats_matching(r"lds\.update_rejected$").values())
        if rejected:
            return []  # proxy-config-rejected says the listener is missing and why
        return [ROUTE_NOT_FOUND(
            f"the proxy of {ctx.client.label} has no outbound listener for port "
            f"{ctx.target.port}: no Service in its view declares that port, so the call "
            "never reaches a route; it leaves through virtualOutbound to PassthroughCluster "
            "(ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY)",
            [Evidence(f"envoy {ctx.client.label} config_dump",
                      f"no listener 0.0.0.0_{ctx.target.port} and no route config "
                      f"{ctx.target.port}")],
            fix="Check the Service (or ServiceEntry) declares this port and is visible to the "
                "client's namespace (exportTo, a Sidecar resource's egress).",
            resource=f"Pod {ctx.client.label}", weight=5)]
    if not present:
        return []  # the listener's route config is missing: proxy-config-rejected says why
    vhosts = sorted({r.virtual_host for r in ctx.routes_for_port})
    detail = (f"route config {present[0]} has virtual hosts {', '.join(vhosts[:6])}"
              + (" ..." if len(vhosts) > 6 else "") + f", none for {ctx.target.host}")
    return [ROUTE_NOT_FOUND(
        f"the proxy of {ctx.client.label} has no route for {ctx.target.label}: "
        + _catch_all_effect(ctx),
        [Evidence(f"envoy {ctx.client.label} config_dump", detail)] + _log_evidence(ctx, "NR"),
        fix="Check the Service exists and is visible to the client's namespace (exportTo, a "
            "Sidecar resource's egress), and that the Host header names it.",
        resource=f"Pod {ctx.client.label}", weight=5)]


def cluster_not_found(ctx: Why503Context) -> list[Finding]:
    route = ctx.matched_route
    if route is None or not ctx.client.reachable:
        return []
    findings = []
    for name, _weight in route.clusters:
        if ctx.cluster(name) is not None:
            continue
        subset = ctx.subset_of(name)
        vs = owning_config(route.istio)
        dr = ctx.destination_rule
        evidence = [Evidence(f"envoy {ctx.client.label} routes",
                             f"route {route.route_config}/{route.virtual_host} -> {name}"),
                    Evidence(f"envoy {ctx.client.label} clusters", f"no cluster {name}")]
        evidence += _log_evidence(ctx, "NC")
        subsets = [s.get("name") for s in ((dr or {}).get("spec") or {}).get("subsets") or []
                   if isinstance(s, dict)]
        if subset and subset not in subsets:
            if vs:
                evidence.append(Evidence(vs, f"routes {ctx.target.host} to subset {subset}"))
            evidence.append(Evidence(ref(dr) if dr else "DestinationRule",
                                     f"subsets: {', '.join(map(str, subsets)) or '(none)'}"
                                     if dr else f"no DestinationRule for {ctx.target.host}"))
            findings.append(VS_SUBSET_UNDEFINED(
                f"{vs or 'a VirtualService'} routes {ctx.target.label} to subset {subset!r}, "
                f"which {ref(dr) if dr else 'no DestinationRule'} "
                f"{'does not define' if dr else 'defines'}: istiod made no cluster {name}, "
                "so the route answers 503 NC (cluster_not_found)",
                evidence,
                fix=(f"Define subset {subset!r} in the DestinationRule for {ctx.target.host} "
                     f"(with the labels of the pods it means), or route to an existing subset:\n"
                     f"  subsets:\n  - name: {one_line(subset)}\n    labels:\n"
                     f"      version: {one_line(subset)}"),
                resource=vs, weight=8))
            continue
        exists = ctx.target.service is not None or (
            ctx.state is not None and any(True for _ in ctx.state.list("ServiceEntry")))
        if ctx.target.service is not None:
            fix = (f"Service {ctx.target.namespace}/{ctx.target.name} exists"
                   + (f" and {ref(dr)} defines subset {subset}" if subset else "")
                   + f", so istiod should have sent cluster {name}: the proxy did not accept "
                   "or did not receive it. Check the proxy's sync state and rejections "
                   f"({proxy_hint('sync', ctx.client.label, '--logs')}).")
        elif exists and ctx.target.external:
            fix = ("Check the ServiceEntry for this host declares the port and is exported to "
                   "the client's namespace.")
        else:
            fix = ("The Service or ServiceEntry behind the route is missing or not exported to "
                   "this namespace; create or export it.")
        findings.append(CLUSTER_NOT_FOUND(
            f"the route for {ctx.target.label} points at {name}, which the proxy does not "
            "have: 503 NC (cluster_not_found)", evidence, fix=fix,
            resource=f"Pod {ctx.client.label}", weight=6))
    return findings


def no_endpoints(ctx: Why503Context) -> list[Finding]:
    findings = []
    for name in ctx.target_clusters:
        counts = ctx.host_count(name)
        if ctx.cluster(name) is None or counts is None or counts[1] > 0:
            continue
        subset = ctx.subset_of(name)
        evidence = [Evidence(f"envoy {ctx.client.label} /clusters", f"{name}: 0 endpoints")]
        evidence += _log_evidence(ctx, "UH")
        if subset:
            dr = ctx.destination_rule
            labels_ = next((s.get("labels") or {} for s in ((dr or {}).get("spec") or {})
                            .get("subsets") or [] if isinstance(s, dict)
                            and s.get("name") == subset), {})
            pods = ctx.mesh.subset(dr, ctx.target.host, subset) if ctx.mesh else None
            pod_labels = sorted({",".join(f"{k}={v}" for k, v in sorted(labels(p).items())
                                          if k in labels_) for p in ctx.ready_server_pods})
            if dr is not None:
                evidence.append(Evidence(ref(dr), f"subset {subset}: labels {labels_}"))
            evidence.append(Evidence(
                f"Service {ctx.target.namespace}/{ctx.target.name} pods",
                f"{len(ctx.ready_server_pods)} ready; their {', '.join(labels_) or 'labels'}: "
                + ("; ".join(pod_labels) or "(none)")))
            findings.append(SUBSET_NO_PODS(
                f"subset {subset!r} of {ref(dr) if dr else 'the DestinationRule'} selects no "
                f"running pod of {ctx.target.host} "
                f"({len(pods.pods) if pods else 0} match {labels_}): its cluster has no "
                "endpoints, so calls get 503 UH (no healthy upstream) and istiod counts "
                "pilot_eds_no_instances", evidence,
                fix=(f"Make the labels of subset {subset!r} match the pods ("
                     + kubectl_hint("get", "pods", "-n", ctx.target.namespace, "--show-labels",
                                    names=[ctx.target.namespace])
                     + "), or deploy that version."),
                resource=ref(dr) if dr else "", weight=8))
        else:
            pods = ctx.server_pods
            if ctx.target.service is not None:
                spec = ctx.target.service.get("spec") or {}
                evidence.append(Evidence(
                    f"Service {ctx.target.namespace}/{ctx.target.name}",
                    f"selector {spec.get('selector') or {}}: {len(pods)} pods, "
                    f"{len(ctx.ready_server_pods)} ready"))
            findings.append(NO_ENDPOINTS(
                f"{ctx.target.host} has no endpoints in the proxy of {ctx.client.label}: "
                + ("no pod matches the Service's selector" if ctx.target.service is not None
                   and not pods else "none of its pods is ready" if pods else
                   "nothing backs it") + ", so calls get 503 UH",
                evidence,
                fix="Fix the Service's selector to match the pods' labels, or get the pods "
                    "ready (" + kubectl_hint("get", "endpoints", ctx.target.name, "-n",
                                             ctx.target.namespace,
                                             names=[ctx.target.name, ctx.target.namespace])
                    + ").",
                resource=f"Service {ctx.target.namespace}/{ctx.target.name}", weight=7))
    return findings
