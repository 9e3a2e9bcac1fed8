"""Failing calls across the mesh: every sidecar's own counters joined into edges.

An edge is source workload -> destination service (port, subset): the outbound cluster
one workload's sidecars send to. Its numbers come from the best source each sidecar had
(envoy.upstream_counters): `istio_requests_total` (requests the caller saw, with codes
and flags), else per-cluster stats (requests, local replies included), else the
`/clusters` per-host counters (attempts that reached a host: retries count, and calls
Envoy answered itself, 503 UH or UO, are not there). Which one was used is said on the
edge; a source that was absent is never counted as zero. Nothing here does I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.envoy.upstream_counters import ProxyCounters
from kubectl_meshdebug.kube.state import meta
from kubectl_meshdebug.mesh.commands import is_host, is_label, pod_command
from kubectl_meshdebug.mesh.names import fqdn_parts, parse_cluster_name
from kubectl_meshdebug.mesh.workload import workload_name
from kubectl_meshdebug.numbers import port_number


@dataclass
class EdgeHost:
    address: str
    port: int | None
    pod: str | None
    attempts: int = 0
    failed: int = 0
    connect_failures: int = 0
    healthy: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port, "pod": self.pod,
                "attempts": self.attempts, "failed": self.failed,
                "connect_failures": self.connect_failures, "healthy": self.healthy}


@dataclass
class Edge:
    source: str  # namespace/workload
    destination: str  # the service's FQDN (or the host of a ServiceEntry)
    port: int | None
    subset: str
    cluster: str
    source_pods: Counter[str] = field(default_factory=Counter)  # pod -> failures it saw
    attempts: int | None = None  # host counters
    attempt_failures: int | None = None
    stats_requests: int | None = None  # per-cluster stats
    stats_failures: int | None = None
    local_replies: Counter[str] = field(default_factory=Counter)  # overflow, no_healthy
    istio_requests: int | None = None  # istio_requests_total
    istio_failures: int | None = None
    codes: Counter[str] = field(default_factory=Counter)  # failing response codes
    flags: Counter[str] = field(default_factory=Counter)
    details: Counter[str] = field(default_factory=Counter)  # from access logs
    log_calls: int | None = None  # access-log lines of this cluster (one per call)
    log_failures: int | None = None
    hosts: dict[tuple[str, int | None], EdgeHost] = field(default_factory=dict)
    no_healthy_host: bool = False

    @property
    def basis(self) -> str:
        if self.istio_requests is not None:
            return "istio_requests_total"
        if self.stats_requests is not None:
            return "cluster_stats"
        return "host_counters"

    @property
    def requests(self) -> int | None:
        return {"istio_requests_total": self.istio_requests, "cluster_stats":
                self.stats_requests, "host_counters": self.attempts}[self.basis]

    @property
    def failures(self) -> int | None:
        return {"istio_requests_total": self.istio_failures, "cluster_stats":
                self.stats_failures, "host_counters": self.attempt_failures}[self.basis]

    @property
    def calls(self) -> tuple[int | None, int | None]:
        """(calls, failed calls) the caller saw: each once however often Envoy retried it.
        From istio_requests_total or per-cluster stats, else the access-log lines read;
        (None, None) when only the host counters (attempts) are known."""
        if self.istio_requests is not None:
            return self.istio_requests, self.istio_failures
        if self.stats_requests is not None:
            return self.stats_requests, self.stats_failures
        return self.log_calls, self.log_failures

    @property
    def ratio(self) -> float | None:
        if self.requests is None or self.failures is None:
            return None
        if not self.requests:
            return 1.0 if self.failures else 0.0
        return min(1.0, self.failures / self.requests)

    @property
    def worst_pod(self) -> str:
        """The source pod that saw most failures (the one why-503 should read)."""
        return self.source_pods.most_common(1)[0][0] if self.source_pods else ""

    def service_argument(self) -> str | None:
        """How why-503 takes the destination: `name.namespace:port` for a Service; None
        when the proxy's name for it is not a host a Service or ServiceEntry can have."""
        parts = fqdn_parts(self.destination)
        if parts:
            if not (is_label(parts[0]) and is_label(parts[1])):
                return None
            host = f"{parts[0]}.{parts[1]}"
        elif is_host(self.destination):
            host = self.destination
        else:
            return None
        return f"{host}:{self.port}" if self.port else host

    def why503_command(self) -> list[str] | None:
        """The why-503 that explains this edge, as an argv (names checked, see commands)."""
        namespace, _, pod = self.worst_pod.partition("/")
        service = self.service_argument()
        if not pod or service is None:
            return None
        return pod_command("why-503", pod, namespace, service)

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        calls, failed_calls = self.calls
        return {
            "source": self.source, "destination": self.destination, "port": self.port,
            "subset": self.subset or None, "cluster": self.cluster or None,
            "requests": self.requests, "failures": self.failures,
            "calls": calls, "failed_calls": failed_calls,
            "attempts": self.attempts, "failed_attempts": self.attempt_failures,
            "failure_ratio": None if ratio is None else round(ratio, 4),
            "basis": self.basis,
            "counts": {
                "host_counters": None if self.attempts is None else
                {"attempts": self.attempts, "failed": self.attempt_failures},
                "cluster_stats": None if self.stats_requests is None else
                {"requests": self.stats_requests, "failed": self.stats_failures,
                 **{k: v for k, v in sorted(self.local_replies.items())}},
                "istio_requests_total": None if self.istio_requests is None else
                {"requests": self.istio_requests, "failed": self.istio_failures},
                "access_log": None if self.log_calls is None else
                {"calls": self.log_calls, "failed": self.log_failures},
            },
            "response_codes": dict(self.codes.most_common()),
            "response_flags": dict(self.flags.most_common()),
            "details": dict(self.details.most_common()),
            "hosts": [h.to_dict() for h in sorted(
                self.hosts.values(), key=lambda h: (-h.failed - h.connect_failures, h.address))],
            "no_healthy_host": self.no_healthy_host,
            "source_pods": sorted(self.source_pods),
            "next": self.why503_command(),
        }


@dataclass
class ProxyReading:
    """One sidecar read for the map: who it is and what it counted."""

    label: str  # namespace/pod
    pod: dict[str, Any] | None
    counters: ProxyCounters


def _add(value: int | None, more: int) -> int:
    return (value or 0) + more


class EdgeMap:
    """Edges keyed by (source workload, cluster or destination)."""

    def __init__(self, pod_of_ip: Callable[[str], str | None]) -> None:
        self.edges: dict[tuple[str, str], Edge] = {}
        self.pod_of_ip = pod_of_ip

    def _edge(self, source: str, cluster: str) -> Edge:
        key = (source, cluster)
        if key not in self.edges:
            name = parse_cluster_name(cluster)
            self.edges[key] = Edge(source, name.fqdn or cluster, name.port, name.subset, cluster)
        return self.edges[key]

    def add(self, reading: ProxyReading) -> None:
        source = _source_of(reading)
        counters = reading.counters
        seen: set[str] = set()
        for cluster, hosts in counters.hosts.items():
            edge = self._edge(source, cluster)
            seen.add(cluster)
            failed_here = 0
            for h in hosts:
                c = h.counts
                failed = c.get("rq_error", 0) + c.get("rq_timeout", 0)
                # a failed TLS handshake counts rq_error without rq_total
                attempts = max(c.get("rq_total", 0), failed)
                edge.attempts = _add(edge.attempts, attempts)
                edge.attempt_failures = _add(edge.attempt_failures, failed)
                host = edge.hosts.setdefault((h.address, h.port), EdgeHost(
                    h.address, h.port, self.pod_of_ip(h.address)))
                host.attempts += attempts
                host.failed += failed
                host.connect_failures += c.get("cx_connect_fail", 0)
                host.healthy = host.healthy and h.healthy
                failed_here += failed + c.get("cx_connect_fail", 0)
            edge.no_healthy_host = edge.no_healthy_host or cluster in counters.no_healthy
            edge.source_pods[reading.label] += failed_here
        if counters.clusters is not None:
            for cluster, stats in counters.clusters.items():
                edge = self._edge(source, cluster)
                seen.add(cluster)
                failed = stats.get("upstream_rq_5xx", 0)
                edge.stats_requests = _add(edge.stats_requests, stats.get("upstream_rq_completed", 0))
                edge.stats_failures = _add(edge.stats_failures, failed)
                for key, word in (("upstream_rq_pending_overflow", "overflow"),
                                  ("upstream_cx_none_healthy", "no_healthy_upstream")):
                    if stats.get(key):
                        edge.local_replies[word] += stats[key]
                edge.no_healthy_host = edge.no_healthy_host or cluster in counters.no_healthy
                edge.source_pods[reading.label] += failed
            # a cluster with stats but no traffic at all has no edge
        if counters.istio is not None:
            self._add_istio(reading, source, seen)

    def _add_istio(self, reading: ProxyReading, source: str, seen: set[str]) -> None:
        for series in reading.counters.istio or []:
            if series.get("reporter") != "source" or not series.value:
                continue
            fqdn = series.get("destination_service")
            candidates = [self.edges[(source, c)] for c in seen
                          if (source, c) in self.edges and self.edges[(source, c)].destination == fqdn]
            port = port_number(series.get("destination_port"))
            if port is not None:
                candidates = [e for e in candidates if e.port == port] or candidates
            if candidates:
                edge = max(candidates, key=lambda e: (e.attempts or 0, e.cluster))
            else:
                edge = self._edge(source, fqdn)
                edge.port = port
            code, flag = series.get("response_code"), series.get("response_flags")
            failed = code.startswith("5") or code == "0"
            edge.istio_requests = _add(edge.istio_requests, series.value)
            edge.istio_failures = _add(edge.istio_failures, series.value if failed else 0)
            if failed or (flag and flag != "-"):
                edge.codes[code] += series.value
            if flag and flag != "-":
                edge.flags[flag] += series.value
            if failed:
                edge.source_pods[reading.label] += series.value
            else:
                edge.source_pods[reading.label] += 0

    def ranked(self, failing_only: bool = True) -> list[Edge]:
        edges = [e for e in self.edges.values() if not failing_only or (e.failures or 0) > 0]
        return sorted(edges, key=lambda e: (-(e.failures or 0), -(e.ratio or 0.0),
                                            -(e.requests or 0), e.source, e.cluster))


def _source_of(reading: ProxyReading) -> str:
    namespace, _, name = reading.label.partition("/")
    if reading.pod is not None:
        m = meta(reading.pod)
        namespace = str(m.get("namespace", namespace))
        name = workload_name(reading.pod)
    return f"{namespace}/{name}"
