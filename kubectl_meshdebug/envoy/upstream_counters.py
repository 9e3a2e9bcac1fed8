"""What one sidecar counted of the calls it sent: the three counter sources of `errors`.

1. `/clusters` per-host counters (rq_total, rq_error, rq_timeout, rq_success,
   cx_connect_fail): on every sidecar whatever its stats inclusion list. They count
   attempts (a retried request counts once per try) and only calls that reached a host.
2. Per-cluster `upstream_rq_completed` / `upstream_rq_5xx` and the local-reply counters
   (`upstream_rq_pending_overflow`, `upstream_cx_none_healthy`), where the pod's stats
   inclusion list keeps them: one per request the caller saw, local replies included.
3. `istio_requests_total` when Istio's stats filter is on: requests with their response
   code and flags, labelled with source and destination workloads and services.

A source that is absent stays None, never zero. Only outbound clusters that carried
traffic are kept, so memory follows what is reported, not the size of each answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.envoy.istio_metrics import METRIC, RequestCount, parse_requests_total
from kubectl_meshdebug.envoy.stats import cluster_stat_key, cluster_stat_re
from kubectl_meshdebug.errors import AdminError

HOST_KEYS = ("rq_total", "rq_error", "rq_timeout", "rq_success", "cx_connect_fail")
CLUSTER_KEYS = ("upstream_rq_completed", "upstream_rq_5xx", "upstream_rq_pending_overflow",
                "upstream_cx_none_healthy", "upstream_rq_timeout", "upstream_cx_connect_fail")
_CLUSTER_STATS = cluster_stat_re(r"outbound\|.*") + "(" + "|".join(CLUSTER_KEYS) + ")$"
_OUTBOUND = re.compile(r"^outbound\|")


@dataclass
class HostCount:
    address: str
    port: int | None
    healthy: bool
    counts: dict[str, int]


@dataclass
class ProxyCounters:
    hosts: dict[str, list[HostCount]] = field(default_factory=dict)  # cluster -> hosts
    no_healthy: list[str] = field(default_factory=list)  # outbound clusters, 0 healthy
    clusters: dict[str, dict[str, int]] | None = None  # None: inclusion list lacks them
    istio: list[RequestCount] | None = None  # None: Istio's stats filter is off

    def minus(self, before: ProxyCounters) -> ProxyCounters:
        """What was counted since `before` (a counter that went down was reset: its new
        value is all that is known)."""
        def delta(now: dict[str, int], then: dict[str, int] | None) -> dict[str, int]:
            then = then or {}
            return {k: v - then.get(k, 0) if v >= then.get(k, 0) else v for k, v in now.items()}

        old_hosts = {(c, h.address, h.port): h.counts for c, hs in before.hosts.items()
                     for h in hs}
        hosts = {c: [HostCount(h.address, h.port, h.healthy,
                               delta(h.counts, old_hosts.get((c, h.address, h.port))))
                     for h in hs] for c, hs in self.hosts.items()}
        clusters = None if self.clusters is None else {
            c: delta(v, (before.clusters or {}).get(c)) for c, v in self.clusters.items()}
        istio = None
        if self.istio is not None:
            old = {r.labels: r.value for r in before.istio or []}
            istio = [RequestCount(r.labels, r.value - old.get(r.labels, 0)
                                  if r.value >= old.get(r.labels, 0) else r.value)
                     for r in self.istio]
        return ProxyCounters(hosts, list(self.no_healthy), clusters, istio)


def read_counters(admin: AdminClient) -> ProxyCounters:
    out = ProxyCounters()
    try:
        statuses = admin.cluster_statuses(r"^outbound\|")
    except AdminError as exc:
        if exc.status != 400:
            raise
        statuses = admin.cluster_statuses()  # an Envoy without ?filter= on /clusters
    names = set()
    for name, status in statuses.items():
        if not _OUTBOUND.match(name):
            continue
        names.add(name)
        if status.hosts and status.healthy_count == 0:
            out.no_healthy.append(name)
        kept = [HostCount(h.address, h.port, h.healthy,
                          {k: h.stats[k] for k in HOST_KEYS if isinstance(h.stats.get(k), int)})
                for h in status.hosts]
        if any(h.counts.get("rq_total") or h.counts.get("cx_connect_fail") for h in kept):
            out.hosts[name] = kept
    out.clusters = _cluster_stats(admin, names)
    out.istio = parse_requests_total(admin.prometheus_text(METRIC))
    return out


def _cluster_stats(admin: AdminClient, names: set[str]) -> dict[str, dict[str, int]] | None:
    stats = admin.stats(_CLUSTER_STATS)
    if not stats:
        return None
    out: dict[str, dict[str, int]] = {}
    for stat in stats:
        parsed = cluster_stat_key(stat.name)
        if not isinstance(stat.value, int) or parsed is None:
            continue
        cluster, key = parsed
        if key in CLUSTER_KEYS and cluster in names:  # not `...local.retry.upstream_rq_5xx`
            if stat.value:
                out.setdefault(cluster, {})[key] = stat.value
    return out

