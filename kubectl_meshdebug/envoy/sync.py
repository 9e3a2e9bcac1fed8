"""Is a proxy's configuration current and accepted? From /ready, /server_info, the xDS
update counters Istio keeps, and warming or failed resources in the config dump."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.envoy.views import dump_calls, fetch_dump
from kubectl_meshdebug.errors import MeshdebugError

SYNC_PARTS = ["clusters", "listeners", "routes"]  # what a sync verdict reads of the config
SYNC_STATS = (r"^(cluster_manager\.(cds\.|warming_clusters|active_clusters)|listener_manager\."
              r"(lds\.|total_listeners_(warming|active)|total_filter_chains_draining)|"
              r"control_plane\.connected_state|cluster\.xds-grpc\.upstream_cx_(connect_fail|"
              r"active)|http\.[^.]+\.rds\.[^.]+\.(update_rejected|update_success|"
              r"update_attempt|version_text)|server\.(state|live))")


@dataclass
class SyncStatus:
    ready: bool
    state: str
    version: str = ""
    cds: dict[str, Any] = field(default_factory=dict)
    lds: dict[str, Any] = field(default_factory=dict)
    rds_rejected: dict[str, int] = field(default_factory=dict)
    connected: int | None = None
    xds_connect_fail: int | None = None
    warming_clusters: list[str] = field(default_factory=list)
    warming_listeners: list[str] = field(default_factory=list)
    failed_listeners: dict[str, str] = field(default_factory=dict)
    missing_routes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if not self.ready:
            return "NOT READY"
        if any("rejected" in p for p in self.problems) or self.missing_routes:
            return "REJECTED"
        if self.connected == 0:
            return "DISCONNECTED"
        if self.warming_clusters or self.warming_listeners:
            return "WARMING"
        # the proxy accepted all it holds; whether that is what istiod last sent only
        # istiod can say (cli/sync.py adds its side, SYNCED or STALE, when it can)
        return "ACCEPTED"

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items()}, "verdict": self.verdict}


def _counters(stats: dict[str, Any], prefix: str) -> dict[str, Any]:
    out = {}
    for key in ("update_attempt", "update_success", "update_rejected", "update_failure",
                "version_text"):
        value = stats.get(f"{prefix}.{key}")
        if value is not None:
            out[key] = value.strip('"') if isinstance(value, str) else value
    return out


def sync_status(admin: AdminClient) -> SyncStatus:
    admin.prefetch([admin.ready, admin.server_info, lambda: admin.stats(SYNC_STATS),
                    *dump_calls(admin, SYNC_PARTS)])
    ready, state = admin.ready()
    status = SyncStatus(ready, state or ("LIVE" if ready else "not ready"))
    try:
        info = admin.server_info()
    except MeshdebugError:
        info = {}
    if isinstance(info, dict):
        node = info.get("node") if isinstance(info.get("node"), dict) else {}
        metadata = node.get("metadata") if isinstance(node.get("metadata"), dict) else {}
        status.version = str(metadata.get("ISTIO_VERSION") or info.get("version") or "")[:100]
        status.state = str(info.get("state", status.state))[:100]
    stats = {s.name: s.value for s in admin.stats(SYNC_STATS)}
    status.cds = _counters(stats, "cluster_manager.cds")
    status.lds = _counters(stats, "listener_manager.lds")
    status.rds_rejected = {
        m.group(1): v for k, v in stats.items()
        if (m := re.match(r"^http\.[^.]+\.rds\.([^.]+)\.update_rejected$", k))
        and isinstance(v, int) and v}
    connected = stats.get("control_plane.connected_state")
    status.connected = connected if isinstance(connected, int) else None
    fails = stats.get("cluster.xds-grpc.upstream_cx_connect_fail")
    status.xds_connect_fail = fails if isinstance(fails, int) else None
    dump = fetch_dump(admin, SYNC_PARTS)
    present = {cfg.get("name") for cfg, _ in dump.route_configs()}
    status.missing_routes = sorted({c.route_config for listener in dump.listeners()
                                    for c in listener.chains
                                    if c.route_config and c.route_config not in present})
    status.warming_clusters = [c.name for c in dump.clusters() if c.state == "warming"]
    for listener in dump.listeners():
        if listener.state == "warming":
            status.warming_listeners.append(listener.name)
        if listener.error:
            status.failed_listeners[listener.name] = listener.error
    for name, counters in (("cds", status.cds), ("lds", status.lds)):
        if counters.get("update_rejected"):
            status.problems.append(f"{name} updates rejected: {counters['update_rejected']}")
    for route, count in status.rds_rejected.items():
        status.problems.append(f"rds {route} updates rejected: {count}")
    for name in status.missing_routes:
        status.problems.append(f"route config {name} is used by a listener but missing: "
                               "rejected, or never received (requests on it get 404 NR)")
    for name, error in status.failed_listeners.items():
        status.problems.append(f"listener {name} rejected: {error}")
    if not ready:
        status.problems.append(f"not ready: {state}")
    if status.connected == 0:
        status.problems.append("no xDS connection to istiod (control_plane.connected_state 0)"
                               + (f", {status.xds_connect_fail} connect failures"
                                  if status.xds_connect_fail else ""))
    if status.warming_clusters or status.warming_listeners:
        status.problems.append(f"warming: {len(status.warming_clusters)} clusters, "
                               f"{len(status.warming_listeners)} listeners (waiting for "
                               "endpoints or routes from istiod)")
    return status
