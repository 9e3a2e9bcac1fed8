"""`/clusters?format=json`: live per-cluster and per-host state (health flags, counters).

Proto3 JSON drops zero values: a counter without `value` is 0, an empty cluster has no
`host_statuses`, and the DEFAULT circuit-breaker priority is not written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.envoy import protojson
from kubectl_meshdebug.envoy.config_dump import socket_address
from kubectl_meshdebug.numbers import count_number, port_number

# health_status flags, spelled out for people.
HEALTH_FLAGS = {
    "failed_active_health_check": "failed active health check",
    "failed_outlier_check": "ejected by outlier detection",
    "failed_active_degraded_check": "degraded by active health check",
    "pending_dynamic_removal": "pending removal (gone from EDS, still draining)",
    "pending_active_hc": "waiting for its first active health check",
    "excluded_via_immediate_hc_fail": "excluded: host answered x-envoy-immediate-health-check-fail",
    "active_hc_timeout": "active health check timed out",
}
EDS_UNHEALTHY = {"UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"}


@dataclass
class HostStatus:
    cluster: str
    address: str
    port: int | None
    eds_health: str
    flags: list[str]
    weight: int | None
    locality: str
    stats: dict[str, int] = field(default_factory=dict)
    success_rate: float | None = None

    @property
    def healthy(self) -> bool:
        return self.eds_health not in EDS_UNHEALTHY and not any(
            f.startswith(("failed_", "pending_active", "excluded", "active_hc")) for f in self.flags
        )

    @property
    def health_text(self) -> str:
        parts = [] if self.eds_health in ("HEALTHY", "") else [f"EDS {self.eds_health}"]
        parts += [HEALTH_FLAGS.get(f, f) for f in self.flags]
        return "; ".join(parts) or "healthy"


@dataclass
class ClusterStatus:
    name: str
    hosts: list[HostStatus]
    added_via_api: bool
    circuit_breakers: dict[str, int]
    outlier_success_rate_average: float | None = None

    @property
    def healthy_count(self) -> int:
        return sum(1 for h in self.hosts if h.healthy)


def parse_clusters_json(doc: Any) -> dict[str, ClusterStatus]:
    """Index `/clusters?format=json` by cluster name."""
    if not isinstance(doc, dict):
        raise ValueError("not /clusters?format=json output: expected a JSON object")
    if not doc:
        return {}  # Envoy's answer when a ?filter= matches no cluster
    if protojson.needs_normalizing(doc, depth=4):
        doc = protojson.normalize(doc)
    statuses = doc.get("cluster_statuses")
    if statuses is None:
        raise ValueError("not /clusters?format=json output: no 'cluster_statuses'")
    if not isinstance(statuses, list):
        raise ValueError("not /clusters?format=json output: 'cluster_statuses' is no list")
    out: dict[str, ClusterStatus] = {}
    for item in statuses:
        try:
            status = _cluster_status(item)
        except (AttributeError, TypeError, ValueError, OverflowError):
            continue  # a malformed entry: skip it rather than fail the whole answer
        out[status.name] = status
    return out


def _cluster_status(item: Any) -> ClusterStatus:
    """One entry of cluster_statuses; a malformed host is left out, the cluster kept."""
    name = item.get("name", "")
    if not isinstance(name, str):
        raise TypeError("cluster name is not a string")
    hosts = []
    for host in item.get("host_statuses") or []:
        try:
            hosts.append(_host_status(name, host))
        except (AttributeError, TypeError, ValueError, OverflowError):
            continue
    thresholds = {}
    breakers = item.get("circuit_breakers")
    for t in (breakers.get("thresholds") or [] if isinstance(breakers, dict) else []):
        if t.get("priority", "DEFAULT") == "DEFAULT":
            thresholds = {
                k: protojson.uint(v) or 0 for k, v in t.items() if k.startswith("max_")
            }
    avg = (item.get("success_rate_ejection_threshold") or {}).get("value")
    return ClusterStatus(
        name, hosts, bool(item.get("added_via_api")), thresholds,
        float(avg) if avg is not None else None,
    )


def parse_clusters_text(text: str) -> dict[str, ClusterStatus]:
    """The text form of `/clusters` (`name::host::key::value` lines), for saved files."""
    out: dict[str, ClusterStatus] = {}
    hosts: dict[tuple[str, str], HostStatus] = {}
    for line in text.splitlines():
        parts = line.split("::")
        if len(parts) < 3:
            continue
        name = parts[0]
        status = out.setdefault(name, ClusterStatus(name, [], False, {}))
        if parts[1] == "added_via_api":
            status.added_via_api = parts[2] == "true"
            continue
        if len(parts) != 4 or parts[1] in ("default_priority", "high_priority", "outlier"):
            continue
        addr, key, value = parts[1], parts[2], parts[3]
        if (name, addr) not in hosts:
            host_part, _, port_part = addr.rpartition(":")
            host = HostStatus(
                name, host_part or addr, port_number(port_part),
                "HEALTHY", [], None, "",
            )
            hosts[(name, addr)] = host
            status.hosts.append(host)
        host = hosts[(name, addr)]
        if key == "health_flags":
            for flag in value.split("|"):
                flag = flag.strip("/").lower()
                if flag in ("healthy", ""):
                    continue
                if flag.startswith("eds_"):
                    host.eds_health = flag[4:].upper()
                else:
                    host.flags.append(flag)
        elif key == "weight" and count_number(value) is not None:
            host.weight = count_number(value)
        elif count_number(value) is not None:
            host.stats[key] = count_number(value)  # type: ignore[assignment]
    return out


def _host_status(cluster: str, host: Any) -> HostStatus:
    address, port = socket_address(host.get("address") or {})
    health = host.get("health_status") or {}
    flags = sorted(k for k, v in health.items() if k != "eds_health_status" and v is True)
    stats = {
        str(s.get("name", "")): protojson.uint(s.get("value")) or 0
        for s in host.get("stats") or []
    }
    rate = (host.get("success_rate") or {}).get("value")
    locality = "/".join(
        str(v) for v in (host.get("locality") or {}).values() if isinstance(v, str)
    )
    return HostStatus(
        cluster, address, port, str(health.get("eds_health_status", "")), flags,
        protojson.uint(host.get("weight")), locality, stats,
        float(rate) if rate is not None else None,
    )
