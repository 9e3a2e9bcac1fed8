"""Does the call find a route, a cluster, and endpoints behind it?"""

from __future__ import annotations

from kubectl_meshdebug.checks.finding import Evidence, Finding
from kubectl_meshdebug.checks.registry import CATALOGUE, CheckInfo, runtime_check
from kubectl_meshdebug.checks.why503_context import Why503Context, entry_text
from kubectl_meshdebug.kube.state import ref
from kubectl_meshdebug.mesh.correlate import owning_config
from kubectl_meshdebug.mesh.sidecar import egress_allows, egress_hosts


def _log_evidence(ctx: Why503Context, flag: str, limit: int = 2) -> list[Evidence]:
    return [Evidence(f"envoy {ctx.client.label} access log", entry_text(e))
            for e in ctx.failures(flag)[-limit:]]


@runtime_check(CheckInfo("sidecar-egress-hides-host",
                         "A Sidecar resource's egress list hides the host from the client",
                         ("Sidecar",), audit=False))
def sidecar_egress_hides_host(ctx: Why503Context) -> list[Finding]:
    if ctx.mesh is None or ctx.mesh.client_pod is None or ctx.state is None:
        return []
    from kubectl_meshdebug.mesh.describe import applicable_sidecar

    sidecar = applicable_sidecar(ctx.state, ctx.mesh.mesh.root_namespace, ctx.mesh.client_pod)
    if sidecar is None or egress_allows(sidecar, ctx.target.host, ctx.target.namespace or None):
        return []
    known = ctx.cluster(ctx.target_clusters[0]) is not None
    return [Finding(
        "sidecar-egress-hides-host", "error",
        f"{ref(sidecar)} limits what {ctx.client.label} can reach, and "
        f"{ctx.target.host} is not in its egress hosts: the proxy has "
        + ("" if not known else "still ") + "no route or cluster for it, so the call gets "
        "404 NR (or goes to the passthrough/blackhole cluster)",
        [Evidence(ref(sidecar), "egress hosts: " + ", ".join(egress_hosts(sidecar))),
         Evidence(f"envoy {ctx.client.label} config_dump",
                  f"no virtual host for {ctx.target.host} in route config {ctx.target.port}")]
        + _log_evidence(ctx, "NR"),
        fix=(f"Add the host's namespace to the Sidecar's egress, e.g.\n  egress:\n  - hosts:\n"
             f"    - \"./*\"\n    - \"istio-system/*\"\n"
             f"    - \"{ctx.target.namespace or '*'}/{ctx.target.host}\""),
        resource=ref(sidecar), explains=8)]


@runtime_check(CheckInfo("route-not-found",
                         "No virtual host of the port's route config answers the call's Host",
                         (), audit=False))
def route_not_found(ctx: Why503Context) -> list[Finding]:
    if not ctx.client.reachable or ctx.matched_route is not None:
        return []
    http_chain = any(c.route_config or c.inline_routes for _, c in ctx.listener_chains)
    if ctx.listener_chains and not http_chain:
        return []  # a TCP port: routes do not apply
    present = [n for n in ctx.route_config_names if n in ctx.route_configs_present]
    if not present and not ctx.listener_chains:
        detail = f"no listener or route config for port {ctx.target.port}"
    elif not present:
        return []  # the listener's route config is missing: proxy-config-rejected says why
    else:
        vhosts = sorted({r.virtual_host for r in ctx.routes_for_port})
        detail = (f"route config {present[0]} has virtual hosts {', '.join(vhosts[:6])}"
                  + (" ..." if len(vhosts) > 6 else "") + f", none for {ctx.target.host}")
    return [Finding(
        "route-not-found", "error",
        f"the proxy of {ctx.client.label} has no route for {ctx.target.label}: calls get "
        "404 NR (route_not_found)",
        [Evidence(f"envoy {ctx.client.label} config_dump", detail)] + _log_evidence(ctx, "NR"),
        fix="Check the Service exists and is visible to the client's namespace (exportTo, a "
            "Sidecar resource's egress), and that the Host header names it.",
        resource=f"Pod {ctx.client.label}", explains=5)]


@runtime_check(CheckInfo("cluster-not-found",
                         "The route points at a cluster the proxy does not have", (),
                         audit=False))
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
        if subset:
            names = [s.get("name") for s in ((dr or {}).get("spec") or {}).get("subsets") or []]
            if vs:
                evidence.append(Evidence(vs, f"routes {ctx.target.host} to subset {subset}"))
            evidence.append(Evidence(ref(dr) if dr else "DestinationRule",
                                     f"subsets: {', '.join(map(str, names)) or '(none)'}"
                                     if dr else f"no DestinationRule for {ctx.target.host}"))
            findings.append(Finding(
                "vs-subset-undefined", "error",
                f"{vs or 'a VirtualService'} routes {ctx.target.label} to subset {subset!r}, "
                f"which {ref(dr) if dr else 'no DestinationRule'} "
                f"{'does not define' if dr else 'defines'}: istiod made no cluster {name}, "
                "so the route answers 503 NC (cluster_not_found)",
                evidence,
                fix=(f"Define subset {subset!r} in the DestinationRule for {ctx.target.host} "
                     f"(with the labels of the pods it means), or route to an existing subset:\n"
                     f"  subsets:\n  - name: {subset}\n    labels:\n      version: {subset}"),
                resource=vs, explains=8))
        else:
            findings.append(Finding(
                "cluster-not-found", "error",
                f"the route for {ctx.target.label} points at {name}, which the proxy does not "
                "have: 503 NC (cluster_not_found)", evidence,
                fix="The Service or ServiceEntry behind the route is missing or not exported "
                    "to this namespace; create or export it.",
                resource=f"Pod {ctx.client.label}", explains=6))
    return findings


CATALOGUE.setdefault("vs-subset-undefined", CheckInfo(
    "vs-subset-undefined", "A VirtualService routes to a subset no DestinationRule defines",
    ("VirtualService", "DestinationRule"), audit=True))


@runtime_check(CheckInfo("no-endpoints", "The target cluster has no endpoints", (),
                         audit=False))
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
                            .get("subsets") or [] if s.get("name") == subset), {})
            pods = ctx.mesh.subset(dr, ctx.target.host, subset) if ctx.mesh else None
            pod_labels = sorted({",".join(f"{k}={v}" for k, v in sorted(
                (p.get("metadata") or {}).get("labels", {}).items()) if k in labels_)
                for p in ctx.ready_server_pods})
            if dr is not None:
                evidence.append(Evidence(ref(dr), f"subset {subset}: labels {labels_}"))
            evidence.append(Evidence(
                f"Service {ctx.target.namespace}/{ctx.target.name} pods",
                f"{len(ctx.ready_server_pods)} ready; their {', '.join(labels_) or 'labels'}: "
                + ("; ".join(pod_labels) or "(none)")))
            findings.append(Finding(
                "subset-no-pods", "error",
                f"subset {subset!r} of {ref(dr) if dr else 'the DestinationRule'} selects no "
                f"running pod of {ctx.target.host} "
                f"({len(pods.pods) if pods else 0} match {labels_}): its cluster has no "
                "endpoints, so calls get 503 UH (no healthy upstream) and istiod counts "
                "pilot_eds_no_instances", evidence,
                fix=(f"Make the labels of subset {subset!r} match the pods (kubectl get pods -n "
                     f"{ctx.target.namespace} --show-labels), or deploy that version."),
                resource=ref(dr) if dr else "", explains=8))
        else:
            pods = ctx.server_pods
            if ctx.target.service is not None:
                selector = (ctx.target.service.get("spec") or {}).get("selector") or {}
                evidence.append(Evidence(
                    f"Service {ctx.target.namespace}/{ctx.target.name}",
                    f"selector {selector}: {len(pods)} pods, {len(ctx.ready_server_pods)} ready"))
            findings.append(Finding(
                "no-endpoints", "error",
                f"{ctx.target.host} has no endpoints in the proxy of {ctx.client.label}: "
                + ("no pod matches the Service's selector" if ctx.target.service is not None
                   and not pods else "none of its pods is ready" if pods else
                   "nothing backs it") + ", so calls get 503 UH",
                evidence,
                fix="Fix the Service's selector to match the pods' labels, or get the pods "
                    f"ready (kubectl get endpoints {ctx.target.name} -n {ctx.target.namespace}).",
                resource=f"Service {ctx.target.namespace}/{ctx.target.name}", explains=7))
    return findings


CATALOGUE.setdefault("subset-no-pods", CheckInfo(
    "subset-no-pods", "A DestinationRule subset selects no pod of its Service",
    ("DestinationRule", "Service", "Pod"), audit=True))
