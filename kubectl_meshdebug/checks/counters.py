"""Failures the default-on counters show, when nothing else explains them.

Istio's default install has access logging off, so a failing call often leaves no log line.
What is on by default: `/clusters` counts every attempt per upstream host (`rq_total`,
`rq_error`, `rq_timeout`, `cx_connect_fail`), and `/stats` keeps the cluster stats Istio's
inclusion list allows. A diagnosis that finds no cause must not say "no problem" while
those counters show the call failing: it says the calls failed, how many, and how to see
more (an access log for this one workload, with a Telemetry object, and how to remove it).
"""

from __future__ import annotations

from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.why503_context import Why503Context
from kubectl_meshdebug.envoy.stats import cluster_stat
from kubectl_meshdebug.kube.state import labels
from kubectl_meshdebug.mesh.commands import is_label, is_label_value
from kubectl_meshdebug.text import one_line

FAILURES_UNEXPLAINED = FindingType(
    "failures-unexplained", "error",
    "The client's counters show failing calls that nothing read explains",
    kinds=("Pod",), proxy=("statuses", "stats", "routes", "clusters", "log"))

HOST_FAILURES = ("rq_error", "rq_timeout", "cx_connect_fail")
CLUSTER_FAILURES = ("upstream_rq_5xx", "upstream_cx_connect_fail", "upstream_rq_timeout",
                    "upstream_rq_pending_overflow", "upstream_cx_none_healthy")


def counted_failures(ctx: Why503Context) -> tuple[dict[str, int], list[Evidence]] | None:
    """Failures per counter over the call's clusters, and the evidence; None when neither
    /clusters nor the cluster stats were read (nothing to say either way)."""
    statuses = ctx.client.statuses if ctx.client.reachable else None
    stats = ctx.client.stats if ctx.client.reachable else {}
    if statuses is None and not stats:
        return None
    totals: dict[str, int] = {}
    evidence: list[Evidence] = []
    for cluster in ctx.target_clusters:
        status = (statuses or {}).get(cluster)
        for host in status.hosts if status is not None else []:
            bad = {k: host.stats.get(k, 0) for k in HOST_FAILURES if host.stats.get(k, 0)}
            for key, value in bad.items():
                totals[key] = totals.get(key, 0) + value
            if bad:
                evidence.append(Evidence(
                    f"envoy {ctx.client.label} /clusters",
                    f"{cluster} host {host.address}:{host.port}: attempts "
                    f"{host.stats.get('rq_total', 0)}, "
                    + ", ".join(f"{k} {v}" for k, v in bad.items())))
        for key in CLUSTER_FAILURES:
            value = cluster_stat(stats, cluster, key)
            if isinstance(value, int) and value > 0:
                totals[key] = totals.get(key, 0) + value
                evidence.append(Evidence(f"envoy {ctx.client.label} /stats",
                                         f"cluster.{cluster}.{key}: {value}"))
    return totals, evidence


def telemetry_for(ctx: Why503Context) -> str:
    """A Telemetry object that turns the access log on for the client's workload only."""
    pod = ctx.mesh.client_pod if ctx.mesh is not None else None
    namespace = ctx.client.label.rpartition("/")[0]
    app = labels(pod).get("app") if pod is not None else None
    selector = (f"  selector:\n    matchLabels:\n      app: {app}\n"
                if isinstance(app, str) and is_label_value(app) else "")
    ns = namespace if is_label(namespace) else "NAMESPACE"
    return ("apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n"
            f"  name: meshdebug-access-log\n  namespace: {ns}\nspec:\n{selector}"
            "  accessLogging:\n  - providers:\n    - name: envoy\n"
            f"(remove it afterwards: kubectl delete telemetry meshdebug-access-log -n {ns})")


def failures_unexplained(ctx: Why503Context) -> list[Finding]:
    counted = counted_failures(ctx)
    if counted is None or not counted[0]:
        return []
    totals, evidence = counted
    logs = "no access log line was read" if not ctx.client.log_entries else \
        "the access log read shows none of them"
    return [FAILURES_UNEXPLAINED(
        f"calls from {ctx.client.label} to {one_line(ctx.target.label)} failed ("
        + ", ".join(f"{k} {v}" for k, v in sorted(totals.items()))
        + f") and nothing read explains them; {logs}",
        evidence[:6],
        fix=("See the failing calls' response flags: add --logs if the workload writes an "
             "access log. Istio's default install does not; turn it on for this workload "
             "alone with\n" + telemetry_for(ctx)),
        resource=f"Pod {ctx.client.label}", weight=0)]
