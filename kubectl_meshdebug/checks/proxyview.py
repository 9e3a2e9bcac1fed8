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
class ViewFocus:
    """What of a proxy's config a call can involve, as RE2 patterns on resource names.

    On a sidecar that knows 20,000 services, why-503 asks Envoy only for the call's route
    configs, listeners and clusters instead of the whole dump.
    """

    clusters: str | None = None  # full match, for config_dump name_regex
    routes: str | None = None
    listeners: str | None = None
    host: str = ""  # the call's host, to add the clusters its route points at
    port: int | None = None


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


def _focused_dump(admin: AdminClient, focus: ViewFocus) -> ConfigDump:
    """Routes and listeners first; then the clusters, including whatever the call's route
    points at (a VirtualService may send it to another host)."""
    from kubectl_meshdebug.mesh.hosts import vhost_matches

    first = views.fetch_dump(admin, ["listeners", "routes"],
                             {"listeners": focus.listeners or ".*",
                              "routes": focus.routes or ".*"})
    pattern = focus.clusters or ".*"
    clusters = views.fetch_dump(admin, ["clusters"], {"clusters": pattern})
    section = clusters.sections.setdefault("clusters", {})
    if focus.host:
        forms = [focus.host, f"{focus.host}:{focus.port}"]
        wanted = {c for r in first.routes() if any(vhost_matches(r.domains, h) for h in forms)
                  for c, _ in r.clusters}
        for name in sorted(c for c in wanted if not re.fullmatch(pattern, c)):
            # a route to another host: ask for that cluster by its exact name
            more = views.fetch_dump(admin, ["clusters"], {"clusters": re.escape(name)})
            for key, entries in more.sections.get("clusters", {}).items():
                if isinstance(entries, list):
                    section.setdefault(key, []).extend(
                        e for e in entries if (e.get("cluster") or {}).get("name") == name)
    first.sections["clusters"] = section
    return first


def _statuses(admin: AdminClient, filter_re: str | None) -> dict[str, ClusterStatus]:
    from kubectl_meshdebug.errors import AdminError

    try:
        return parse_clusters_json(admin.clusters_json(filter_re))
    except AdminError as exc:
        if exc.status == 400 and filter_re:  # a filter this Envoy will not take
            return parse_clusters_json(admin.clusters_json())
        raise


def _dump(admin: AdminClient, focus: ViewFocus | None) -> ConfigDump:
    if focus is not None:
        return _focused_dump(admin, focus)
    return views.fetch_dump(admin, ["clusters", "listeners", "routes"])


def fetch_views(targets: list[tuple[str, dict | None, AdminClient | None]],
                logs: dict[str, str], concurrency: int = 8,
                focus: dict[str, ViewFocus] | None = None) -> list[ProxyView]:
    """Fetch every proxy's state at once; the whole costs about its slowest call."""
    views_out = [ProxyView(label, pod) for label, pod, _ in targets]
    calls: list[tuple[int, str, Callable[[], Any]]] = []
    focus = focus or {}
    for i, (label, _pod, admin) in enumerate(targets):
        if admin is None:
            continue
        view_focus = focus.get(label)
        status_filter = ("^(?:" + (view_focus.clusters or ".*") + ")$") if view_focus else None
        calls += [
            (i, "dump", lambda a=admin, f=view_focus: _dump(a, f)),
            (i, "statuses", lambda a=admin, f=status_filter: _statuses(a, f)),
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
