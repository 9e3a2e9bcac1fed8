"""One sidecar's state as why-503 needs it, fetched with concurrent admin calls.

Everything is optional: a call that fails is recorded, and the checks work from what
came back. Per-cluster stats are asked for but often absent (Istio's inclusion list),
and absent is never read as zero.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from kubectl_meshdebug.envoy import views
from kubectl_meshdebug.envoy.accesslog import AccessLogEntry, parse_log
from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.envoy.clusters_status import ClusterStatus, parse_clusters_json
from kubectl_meshdebug.envoy.config_dump import ClusterRecord, ConfigDump
from kubectl_meshdebug.envoy.proxylog import LogSignal, scan
from kubectl_meshdebug.envoy.stats import parse_stats_text
from kubectl_meshdebug.errors import MeshdebugError

STATS_FILTER = (r"^(cluster_manager\.|listener_manager\.|server\.(state|live)|control_plane\.|"
                r"http\.[^.]+\.(rds\.|no_route|no_cluster)|cluster\.xds-grpc\.upstream_cx_"
                r"|cluster\.(outbound|inbound)\|)")


@dataclass
class ProxyView:
    label: str
    pod: dict[str, Any] | None
    dump: ConfigDump | None = None
    statuses: dict[str, ClusterStatus] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    ready: tuple[bool, str] | None = None
    log_entries: list[AccessLogEntry] = field(default_factory=list)
    log_signals: list[LogSignal] = field(default_factory=list)
    has_log: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        return self.dump is not None

    def cluster(self, name: str) -> ClusterRecord | None:
        if self.dump is None:
            return None
        return self._clusters().get(name)

    def _clusters(self) -> dict[str, ClusterRecord]:
        if not hasattr(self, "_cluster_index"):
            self._cluster_index = {c.name: c for c in (self.dump.clusters() if self.dump else [])}
        return self._cluster_index

    def stat(self, name: str) -> Any:
        return self.stats.get(name)

    def stats_matching(self, pattern: str) -> dict[str, Any]:
        rx = re.compile(pattern)
        return {k: v for k, v in self.stats.items() if rx.search(k)}


def fetch_views(targets: list[tuple[str, dict | None, AdminClient | None]],
                logs: dict[str, str], concurrency: int = 8) -> list[ProxyView]:
    """Fetch every proxy's state at once; the whole costs about its slowest call."""
    views_out = [ProxyView(label, pod) for label, pod, _ in targets]
    calls: list[tuple[int, str, Callable[[], Any]]] = []
    for i, (_label, _pod, admin) in enumerate(targets):
        if admin is None:
            continue
        calls += [
            (i, "dump", lambda a=admin: views.fetch_dump(a, ["clusters", "listeners", "routes"])),
            (i, "statuses", lambda a=admin: parse_clusters_json(a.clusters_json())),
            (i, "stats", lambda a=admin: parse_stats_text(a.stats_text(STATS_FILTER))),
            (i, "ready", lambda a=admin: a.ready()),
        ]

    def run(call: tuple[int, str, Callable[[], Any]]) -> tuple[int, str, Any]:
        index, what, fn = call
        try:
            return index, what, fn()
        except MeshdebugError as exc:
            return index, what, exc
        except ValueError as exc:
            return index, what, MeshdebugError(str(exc))

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency * 4, len(calls) or 1))) as pool:
        results = list(pool.map(run, calls))
    for index, what, value in results:
        view = views_out[index]
        if isinstance(value, MeshdebugError):
            view.errors.append(f"{what}: {value.one_line()}")
        elif what == "stats":
            view.stats = {s.name: s.value for s in value}
        else:
            setattr(view, what, value)
    for view in views_out:
        text = logs.get(view.label)
        if text is not None:
            view.has_log = True
            view.log_entries, others = parse_log(text)
            view.log_signals = scan(others)
    return views_out
