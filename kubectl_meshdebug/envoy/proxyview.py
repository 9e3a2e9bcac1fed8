"""One sidecar's state as a diagnosis needs it, collected with concurrent admin calls.

What to collect is named by the data kinds of PROXY_DATA (the checks declare which they
read); `focus` narrows the config dump to what one call can involve. Everything is
optional: a call that fails is recorded on the view, and the checks work from what came
back. Per-cluster stats are asked for but often absent (Istio's inclusion list), and
absent is never read as zero.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_meshdebug.envoy import views
from kubectl_meshdebug.envoy.accesslog import AccessLogEntry, parse_log
from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.envoy.certificates import SecretItem, secret_items
from kubectl_meshdebug.envoy.clusters_status import ClusterStatus
from kubectl_meshdebug.envoy.config_dump import (
    ClusterRecord,
    ConfigDump,
    ListenerRecord,
    RouteRecord,
)
from kubectl_meshdebug.envoy.proxylog import LogSignal, scan
from kubectl_meshdebug.envoy.stats import parse_stats_text
from kubectl_meshdebug.errors import AdminError, MeshdebugError
from kubectl_meshdebug.pool import run_all

# What can be read of a proxy: config dump sections, /clusters, /stats, /ready, its log.
PROXY_DATA = ("clusters", "listeners", "routes", "secrets", "statuses", "stats", "ready",
              "log")

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
    also_clusters: Callable[[ConfigDump], list[str]] | None = None


class ProxyView:
    """What was read of one proxy. Accessors record which data kinds a reader used
    (`recorder`), so that a test can hold each check to what it declares."""

    def __init__(self, label: str, pod: dict[str, Any] | None) -> None:
        self.label = label
        self.pod = pod
        self.errors: list[str] = []
        self.dump: ConfigDump | None = None
        self._statuses: dict[str, ClusterStatus] | None = None
        self._stats: dict[str, Any] = {}
        self._ready: tuple[bool, str] | None = None
        self._entries: list[AccessLogEntry] = []
        self._signals: list[LogSignal] = []
        self.has_log = False
        self.recorder: set[str] | None = None

    def _used(self, what: str) -> None:
        if self.recorder is not None:
            self.recorder.add(what)

    @property
    def reachable(self) -> bool:
        return self.dump is not None

    # config dump ------------------------------------------------------------------
    def clusters(self) -> list[ClusterRecord]:
        self._used("clusters")
        return self.dump.clusters() if self.dump else []

    def cluster(self, name: str) -> ClusterRecord | None:
        self._used("clusters")
        return self.dump.cluster_index().get(name) if self.dump else None

    def listeners(self) -> list[ListenerRecord]:
        self._used("listeners")
        return self.dump.listeners() if self.dump else []

    def routes(self) -> list[RouteRecord]:
        self._used("routes")
        return self.dump.routes() if self.dump else []

    def secrets(self) -> list[SecretItem]:
        """The SDS secrets the proxy holds (its workload certificate and roots)."""
        self._used("secrets")
        return secret_items(self.dump.sections.get("secrets")) if self.dump else []

    def route_config_names(self) -> set[str]:
        self._used("routes")
        return self.dump.route_config_names() if self.dump else set()

    # live state -----------------------------------------------------------------------
    @property
    def statuses(self) -> dict[str, ClusterStatus] | None:
        self._used("statuses")
        return self._statuses

    @property
    def stats(self) -> dict[str, Any]:
        self._used("stats")
        return self._stats

    def stat(self, name: str) -> Any:
        return self.stats.get(name)

    def stats_matching(self, pattern: str) -> dict[str, Any]:
        rx = re.compile(pattern)
        return {k: v for k, v in self.stats.items() if rx.search(k)}

    @property
    def ready(self) -> tuple[bool, str] | None:
        self._used("ready")
        return self._ready

    @property
    def log_entries(self) -> list[AccessLogEntry]:
        self._used("log")
        return self._entries

    @property
    def has_access_lines(self) -> bool:
        """A log was read and it holds access lines (Istio's default install logs none)."""
        self._used("log")
        return self.has_log and bool(self._entries)

    @property
    def log_signals(self) -> list[LogSignal]:
        self._used("log")
        return self._signals

    def set_log(self, text: str) -> None:
        self.has_log = True
        self._entries, others = parse_log(text)
        self._signals = scan(others)


def _statuses(admin: AdminClient, filter_re: str | None) -> dict[str, ClusterStatus]:
    try:
        return admin.cluster_statuses(filter_re)
    except AdminError as exc:
        if exc.status == 400 and filter_re:  # a filter this Envoy will not take
            return admin.cluster_statuses()
        raise


@dataclass
class _Call:
    index: int
    what: str
    run: Callable[[], Any]
    part: str = ""  # for dump resources: clusters, listeners or routes


def _calls(i: int, admin: AdminClient, wants: set[str], focus: ViewFocus | None) -> list[_Call]:
    calls: list[_Call] = []
    patterns = {"clusters": focus.clusters if focus else None,
                "listeners": focus.listeners if focus else None,
                "routes": focus.routes if focus else None}
    for part in ("listeners", "routes", "clusters"):
        if part not in wants:
            continue
        for resource in views.RESOURCES[part]:
            calls.append(_Call(i, "dump", lambda r=resource, p=part: views.fetch_resource(
                admin, r, False, patterns[p]), part))
    if "secrets" in wants:  # pilot-agent's SDS secrets are active ones: one call
        calls.append(_Call(i, "dump", lambda: views.fetch_resource(
            admin, "dynamic_active_secrets", False), "secrets"))
    if "statuses" in wants:
        status_filter = ("^(?:" + focus.clusters + ")$") if focus and focus.clusters else None
        calls.append(_Call(i, "statuses", lambda: _statuses(admin, status_filter)))
    if "stats" in wants:
        calls.append(_Call(i, "stats", lambda: {
            s.name: s.value for s in parse_stats_text(admin.stats_text(STATS_FILTER))}))
    if "ready" in wants:
        calls.append(_Call(i, "ready", admin.ready))
    return calls


def collect_views(targets: list[tuple[str, dict | None, AdminClient | None]],
                  logs: dict[str, str], wants: set[str] | None = None,
                  focus: dict[str, ViewFocus] | None = None,
                  concurrency: int = 8) -> list[ProxyView]:
    """Every proxy's state at once, in one flat round of admin calls (plus one for the
    clusters a route points at outside the focus): the whole costs about its slowest call."""
    wants = set(PROXY_DATA if wants is None else wants)
    focus = focus or {}
    out = [ProxyView(label, pod) for label, pod, _ in targets]
    calls: list[_Call] = []
    for i, (label, _pod, admin) in enumerate(targets):
        if admin is not None:
            calls += _calls(i, admin, wants, focus.get(label))
    _prefetch(targets, calls, concurrency)
    results = run_all(calls, lambda c: c.run(), concurrency=max(1, concurrency * 4))
    configs: dict[int, list[Any]] = {}
    dump_failed: dict[int, str] = {}
    for call, value in zip(calls, results, strict=True):
        view = out[call.index]
        if isinstance(value, MeshdebugError):
            if call.what == "dump":
                dump_failed.setdefault(call.index, value.one_line())
            else:
                view.errors.append(f"{call.what}: {value.one_line()}")
        elif call.what == "dump":
            configs.setdefault(call.index, []).extend(value)
        elif call.what == "statuses":
            view._statuses = value
        elif call.what == "stats":
            view._stats = value
        elif call.what == "ready":
            view._ready = value
    dump_wanted = bool(wants & {"clusters", "listeners", "routes", "secrets"})
    for i, (_label, _pod, admin) in enumerate(targets):
        if admin is None or not dump_wanted:
            continue
        if i in dump_failed:
            out[i].errors.append(f"dump: {dump_failed[i]}")
            continue
        out[i].dump = ConfigDump.from_json({"configs": configs.get(i, [])})
    _add_route_targets(out, targets, focus, wants)
    for view in out:
        text = logs.get(view.label)
        if text is not None:
            view.set_log(text)
    return out


def _prefetch(targets: list[tuple[str, dict | None, AdminClient | None]], calls: list[_Call],
              concurrency: int) -> None:
    """One round trip per proxy for all of its calls where the transport batches."""
    by_proxy: dict[int, list[Callable[[], Any]]] = {}
    for call in calls:
        by_proxy.setdefault(call.index, []).append(call.run)
    admins = [(targets[i][2], planned) for i, planned in by_proxy.items()]
    run_all(admins, lambda item: item[0].prefetch(item[1]),  # type: ignore[union-attr]
            concurrency=max(1, concurrency))


def _add_route_targets(out: list[ProxyView], targets: list[tuple[str, dict | None,
                                                                 AdminClient | None]],
                       focus: dict[str, ViewFocus], wants: set[str]) -> None:
    """A VirtualService may send the call to another host: fetch those clusters by name."""
    if "clusters" not in wants:
        return
    extra: list[tuple[int, str]] = []
    for i, (label, _pod, admin) in enumerate(targets):
        view_focus = focus.get(label)
        dump = out[i].dump
        if admin is None or dump is None or view_focus is None or \
                view_focus.also_clusters is None:
            continue
        pattern = view_focus.clusters or ".*"
        for name in view_focus.also_clusters(dump):
            if not re.fullmatch(pattern, name) and name not in dump.cluster_index():
                extra.append((i, name))
    if not extra:
        return

    def lookups(i: int, name: str) -> list[Callable[[], list[Any]]]:
        admin = targets[i][2]
        assert admin is not None
        return [lambda resource=resource: views.fetch_resource(admin, resource, False,
                                                               re.escape(name))
                for resource in views.RESOURCES["clusters"]]

    def fetch(item: tuple[int, str]) -> list[Any]:
        i, name = item
        return [c for lookup in lookups(i, name) for c in lookup()
                if ((c.get("cluster") or {}) if isinstance(c, dict) else {}).get("name") == name]

    per_proxy: dict[int, list[Callable[[], Any]]] = {}
    for i, name in extra:
        per_proxy.setdefault(i, []).extend(lookups(i, name))
    run_all(list(per_proxy.items()),
            lambda entry: targets[entry[0]][2].prefetch(entry[1]),  # type: ignore[union-attr]
            concurrency=8)
    results = run_all(extra, fetch, concurrency=8)
    for (i, _name), value in zip(extra, results, strict=True):
        dump = out[i].dump
        if isinstance(value, MeshdebugError) or dump is None or not value:
            continue
        out[i].dump = _merged(dump, value)


def _merged(dump: ConfigDump, items: list[Any]) -> ConfigDump:
    """The dump with more `?resource=` cluster items added (a new, freshly indexed dump)."""
    sections = {k: dict(v) for k, v in dump.sections.items()}
    merged = ConfigDump.from_json({"configs": items})
    for key, entries in merged.sections.get("clusters", {}).items():
        if isinstance(entries, list):
            section = sections.setdefault("clusters", {})
            section[key] = list(section.get(key) or []) + entries
    return ConfigDump(sections)
