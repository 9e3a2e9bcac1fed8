"""Index an Envoy `/config_dump` into clusters, listeners, routes, endpoints and secrets.

Accepts what `/config_dump` returns with or without `include_eds`, the per-resource form
(`?resource=dynamic_active_clusters`), v2 and v3 type URLs, and camelCase or snake_case
keys. One pass over each section; nothing is parsed that a caller does not ask for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug import jsonload
from kubectl_meshdebug.envoy import dump_layout, protojson

SECTION_KINDS = {
    "BootstrapConfigDump": "bootstrap",
    "ClustersConfigDump": "clusters",
    "ListenersConfigDump": "listeners",
    "RoutesConfigDump": "routes",
    "ScopedRoutesConfigDump": "scoped_routes",
    "EndpointsConfigDump": "endpoints",
    "SecretsConfigDump": "secrets",
}
# `?resource=` answers with items of these nested types.
ITEM_KINDS = {
    "DynamicCluster": ("clusters", "dynamic_active_clusters"),
    "StaticCluster": ("clusters", "static_clusters"),
    "DynamicListener": ("listeners", "dynamic_listeners"),
    "StaticListener": ("listeners", "static_listeners"),
    "DynamicRouteConfig": ("routes", "dynamic_route_configs"),
    "StaticRouteConfig": ("routes", "static_route_configs"),
    "DynamicEndpointConfig": ("endpoints", "dynamic_endpoint_configs"),
    "StaticEndpointConfig": ("endpoints", "static_endpoint_configs"),
    "DynamicSecret": ("secrets", "dynamic_active_secrets"),
    "StaticSecret": ("secrets", "static_secrets"),
}


def section_kind(type_name: str) -> str | None:
    if type_name in SECTION_KINDS:
        return SECTION_KINDS[type_name]
    if type_name in ITEM_KINDS:
        return ITEM_KINDS[type_name][0]
    return None


def load_sections(raw: bytes, wanted: set[str] | None = None) -> ConfigDump:
    """Parse a saved dump, only the sections a command needs when the layout allows.

    Any surprise in the layout (dump_layout.section_spans) or in a section falls back to
    parsing the whole document, which also gives the precise error for broken input.
    """
    return sections_from(lambda: raw, wanted)


def sections_from(take: Callable[[], bytes], wanted: set[str] | None) -> ConfigDump:
    """load_sections for a caller that can hand the bytes over again: TAKE gives them,
    and once the needed sections are decoded no reference to the whole file is kept, so
    a 100 MB dump's bytes are not held while its clusters are parsed. A section that does
    not parse takes the bytes again for the full parse (and its precise error)."""
    raw = take()
    spans = dump_layout.section_spans(raw, SECTION_KINDS) if wanted is not None else None
    if spans is None:
        return ConfigDump.from_json(jsonload.loads(raw))
    texts = [dump_layout.span_text(raw, begin, end) for type_name, begin, end in spans
             if section_kind(type_name) in wanted]
    del raw
    try:
        configs = []
        while texts:
            configs.append(jsonload.loads(texts.pop(0)))
        return ConfigDump.from_json({"configs": configs})
    except ValueError:
        return ConfigDump.from_json(jsonload.loads(take()))


class ConfigDumpError(ValueError):
    """The document is not a config dump (wrong JSON type, no `configs`)."""


def _type_name(item: dict[str, Any]) -> str:
    return str(item.get("@type", "")).rsplit(".", 1)[-1]


@dataclass
class TlsInfo:
    """What an upstream cluster sends: none, simple, mutual, istio-mutual or auto."""

    mode: str
    sni: str = ""
    sans: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class ClusterRecord:
    name: str
    state: str  # static | dynamic | warming
    type: str
    version_info: str
    tls: TlsInfo
    circuit_breakers: dict[str, int]
    outlier: dict[str, Any]
    istio: dict[str, Any]
    eds_service_name: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class RbacEngine:
    """One RBAC filter's rules (or shadow rules) as istiod wrote them: ALLOW, DENY or LOG,
    and the names of its policies (`ns[NS]-policy[NAME]-rule[N]`)."""

    action: str
    policies: tuple[str, ...]
    layer: str  # "http" or "network"
    shadow: bool = False


_RBAC_FILTERS = {"envoy.filters.http.rbac": "http", "envoy.filters.network.rbac": "network"}


def rbac_engines(name: str, typed: dict[str, Any]) -> list[RbacEngine]:
    """The RBAC engines of one filter's config (`rules` and `shadow_rules`)."""
    layer = _RBAC_FILTERS.get(name) or (
        "http" if "filters.http.rbac" in str(typed.get("@type", "")) else
        "network" if "filters.network.rbac" in str(typed.get("@type", "")) else "")
    if not layer:
        return []
    out = []
    for key, shadow in (("rules", False), ("shadow_rules", True)):
        rules = typed.get(key)
        if not isinstance(rules, dict):
            continue
        policies = rules.get("policies")
        names = tuple(sorted(str(n) for n in policies)) if isinstance(policies, dict) else ()
        out.append(RbacEngine(str(rules.get("action") or "ALLOW"), names, layer, shadow))
    return out


@dataclass
class FilterChainInfo:
    name: str
    match: dict[str, Any]
    tls_required: bool
    tls_client_cert_required: bool
    filters: list[str]
    route_config: str
    inline_routes: dict[str, Any] | None
    tcp_cluster: str
    # RBAC engines on the chain (HTTP and network filters): what a request must pass
    rbac: list[RbacEngine] = field(default_factory=list)

    @property
    def protocol(self) -> str:
        """HTTP (an HTTP connection manager), TCP (a TCP proxy), or "" (neither)."""
        if "envoy.filters.network.http_connection_manager" in self.filters:
            return "HTTP"
        if "envoy.filters.network.tcp_proxy" in self.filters:
            return "TCP"
        return ""

    @property
    def catches_tls(self) -> bool:
        """An HTTP chain that a TLS ClientHello lands in: one that does not ask
        http_inspector for a plaintext HTTP protocol (http/1.1, h2c), as istiod's outbound
        HTTP chains have since 1.2x; TLS then takes another chain (istiod's default chain
        to PassthroughCluster)."""
        if self.protocol != "HTTP":
            return False
        wanted = self.match.get("application_protocols") if isinstance(self.match, dict) else None
        return not (isinstance(wanted, list) and wanted and
                    all(p in ("http/1.1", "h2c", "http/1.0") for p in wanted))


@dataclass
class ListenerRecord:
    name: str
    state: str  # static | active | warming | draining | error
    address: str
    port: int | None
    direction: str
    chains: list[FilterChainInfo]
    error: str
    raw: dict[str, Any]

    @property
    def protocols(self) -> list[str]:
        return sorted({chain.protocol for chain in self.chains} - {""})


@dataclass
class RouteRecord:
    route_config: str
    virtual_host: str
    domains: list[str]
    match: str
    action: str
    clusters: list[tuple[str, int | None]]
    istio: dict[str, Any]
    raw: dict[str, Any]
    inline_listener: str = ""  # set for a route config inlined in that listener (no RDS)


@dataclass
class EndpointRecord:
    cluster: str
    address: str
    port: int | None
    health: str
    weight: int | None
    locality: str


@dataclass
class ConfigDump:
    """A parsed dump; each section is indexed once, on first use."""

    sections: dict[str, dict[str, Any]]
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _skipped: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def skipped(self) -> int:
        """Resources too malformed to read, over the sections indexed so far."""
        return sum(self._skipped.values())

    @classmethod
    def from_json(cls, doc: Any) -> ConfigDump:
        if not isinstance(doc, dict) or not isinstance(doc.get("configs"), list):
            raise ConfigDumpError(
                "not an Envoy config dump: expected a JSON object with a 'configs' list"
            )
        sections: dict[str, dict[str, Any]] = {}
        for item in doc["configs"]:
            if not isinstance(item, dict):
                raise ConfigDumpError("not an Envoy config dump: 'configs' holds a non-object")
            name = _type_name(item)
            if protojson.needs_normalizing(item):
                item = protojson.normalize(item)
            if name in SECTION_KINDS:
                sections.setdefault(SECTION_KINDS[name], {}).update(item)
            elif name in ITEM_KINDS:
                kind, key = ITEM_KINDS[name]
                section = sections.setdefault(kind, {})
                if not isinstance(section.get(key), list):
                    section[key] = []
                section[key].append(item)
        return cls(sections)

    def _entries(self, kind: str, key: str) -> list[dict[str, Any]]:
        """The objects of one list in a section; anything that is not an object is skipped
        (and counted), so a malformed or foreign dump degrades instead of crashing."""
        section = self.sections.get(kind)
        value = section.get(key) if isinstance(section, dict) else None
        if not isinstance(value, list):
            return []
        good = [e for e in value if isinstance(e, dict)]
        self._skip(f"{kind}/{key}", len(value) - len(good))
        return good

    def _skip(self, where: str, count: int = 1) -> None:
        if count:
            self._skipped[where] = self._skipped.get(where, 0) + count

    def _safely(self, build: Any, *args: Any) -> Any:
        try:
            return build(*args)
        except (AttributeError, TypeError, ValueError, KeyError, OverflowError,
                RecursionError):
            self._skip(str(getattr(build, "__name__", "record")))
            return None

    def _once(self, name: str, build: Any) -> Any:
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    # clusters ------------------------------------------------------------------
    def clusters(self) -> list[ClusterRecord]:
        return self._once("clusters", self._clusters)

    def cluster_index(self) -> dict[str, ClusterRecord]:
        return self._once("cluster_index", lambda: {c.name: c for c in self.clusters()})

    def _clusters(self) -> list[ClusterRecord]:
        out: list[ClusterRecord] = []
        for state, key in (
            ("static", "static_clusters"),
            ("dynamic", "dynamic_active_clusters"),
            ("warming", "dynamic_warming_clusters"),
        ):
            for entry in self._entries("clusters", key):
                cluster = entry.get("cluster")
                if isinstance(cluster, dict) and cluster:
                    rec = self._safely(cluster_record, cluster, state,
                                       str(entry.get("version_info", "")))
                    if rec is not None:
                        out.append(rec)
        return out

    # listeners -----------------------------------------------------------------
    def listeners(self) -> list[ListenerRecord]:
        return self._once("listeners", self._listeners)

    def _listeners(self) -> list[ListenerRecord]:
        out: list[ListenerRecord] = []
        for entry in self._entries("listeners", "static_listeners"):
            if isinstance(entry.get("listener"), dict):
                rec = self._safely(listener_record, entry["listener"], "static", "")
                if rec is not None:
                    out.append(rec)
        for entry in self._entries("listeners", "dynamic_listeners"):
            found = False
            for state in ("active", "warming", "draining"):
                block = entry.get(f"{state}_state")
                if isinstance(block, dict) and isinstance(block.get("listener"), dict):
                    rec = self._safely(listener_record, block["listener"], state, "")
                    if rec is not None:
                        out.append(rec)
                        found = True
            error = entry.get("error_state")
            if error:
                details = str(error.get("details", "")) if isinstance(error, dict) else str(error)
                details = details[:2000]
                if found:
                    out[-1].error = details
                else:
                    out.append(
                        ListenerRecord(
                            str(entry.get("name", "")), "error", "", None, "", [], details,
                            entry,
                        )
                    )
        return out

    # routes --------------------------------------------------------------------
    def route_configs(self) -> list[tuple[dict[str, Any], str]]:
        """(route config, where): `static`, `dynamic` (RDS) or `inline:LISTENER`."""
        return self._once("route_configs", self._route_configs)

    def _route_configs(self) -> list[tuple[dict[str, Any], str]]:
        out = []
        for state, key in (("static", "static_route_configs"),
                           ("dynamic", "dynamic_route_configs")):
            for entry in self._entries("routes", key):
                if isinstance(entry.get("route_config"), dict):
                    out.append((entry["route_config"], state))
        for listener in self.listeners():
            for chain in listener.chains:
                if isinstance(chain.inline_routes, dict):
                    out.append((chain.inline_routes, f"inline:{listener.name}"))
        return out

    def route_config_names(self) -> set[str]:
        """Names of the RDS route configs the proxy holds (inline ones excluded)."""
        return self._once("route_config_names", lambda: {
            str(cfg.get("name", "")) for cfg, where in self.route_configs()
            if not where.startswith("inline:")})

    def routes(self) -> list[RouteRecord]:
        return self._once("routes", self._routes)

    def _routes(self) -> list[RouteRecord]:
        out: list[RouteRecord] = []
        for config, where in self.route_configs():
            name = self._safely(name_of, config)
            if name is None:
                continue
            inline = where.split(":", 1)[1] if where.startswith("inline:") else ""
            vhosts = config.get("virtual_hosts")
            for vhost in vhosts if isinstance(vhosts, list) else []:
                routes = vhost.get("routes") if isinstance(vhost, dict) else None
                for route in routes if isinstance(routes, list) else []:
                    rec = self._safely(route_record, name, vhost, route)
                    if rec is not None:
                        rec.inline_listener = inline
                        out.append(rec)
        return out

    # endpoints -----------------------------------------------------------------
    def has_endpoints(self) -> bool:
        return "endpoints" in self.sections

    def endpoints(self) -> list[EndpointRecord]:
        return self._once("endpoints", self._endpoints)

    def _endpoints(self) -> list[EndpointRecord]:
        out: list[EndpointRecord] = []
        for key in ("static_endpoint_configs", "dynamic_endpoint_configs"):
            for entry in self._entries("endpoints", key):
                found = self._safely(self._endpoints_of, entry)
                out.extend(found or [])
        return out

    @staticmethod
    def _endpoints_of(entry: dict[str, Any]) -> list[EndpointRecord]:
        out = []
        assignment = entry.get("endpoint_config") or {}
        cluster = str(assignment.get("cluster_name", ""))
        for group in assignment.get("endpoints", []) or []:
            locality = "/".join(
                v for v in (group.get("locality") or {}).values() if isinstance(v, str)
            )
            for lb in group.get("lb_endpoints", []) or []:
                address, port = socket_address((lb.get("endpoint") or {}).get("address") or {})
                out.append(EndpointRecord(
                    cluster, address, port, str(lb.get("health_status", "HEALTHY")),
                    protojson.uint(lb.get("load_balancing_weight")), locality))
        return out

    # secrets and bootstrap -------------------------------------------------------
    def bootstrap(self) -> dict[str, Any]:
        boot = (self.sections.get("bootstrap") or {}).get("bootstrap")
        return boot if isinstance(boot, dict) else {}


def socket_address(address: dict[str, Any]) -> tuple[str, int | None]:
    sock = address.get("socket_address")
    if sock:
        return str(sock.get("address", "")), protojson.uint(sock.get("port_value"))
    pipe = address.get("pipe")
    if pipe:
        return f"unix://{pipe.get('path', '')}", None
    internal = address.get("envoy_internal_address")
    if internal:
        endpoint_id = internal.get("endpoint_id")
        suffix = f"/{endpoint_id}" if endpoint_id else ""
        return f"envoy://{internal.get('server_listener_name', '')}{suffix}", None
    return "", None


# ---------------------------------------------------------------------------------------
# clusters


def _find_tls_context(socket: dict[str, Any]) -> dict[str, Any] | None:
    """The UpstreamTlsContext inside a transport socket, unwrapping Istio's wrappers."""
    typed = socket.get("typed_config") or socket.get("config") or {}
    if "common_tls_context" in typed or "UpstreamTlsContext" in str(typed.get("@type", "")):
        return typed
    inner = typed.get("transport_socket")
    if isinstance(inner, dict):
        return _find_tls_context(inner)
    return None


def tls_from_context(ctx: dict[str, Any]) -> TlsInfo:
    common = ctx.get("common_tls_context") or {}
    has_cert = bool(
        common.get("tls_certificate_sds_secret_configs") or common.get("tls_certificates")
    )
    alpn = common.get("alpn_protocols") or []
    sds_names = [c.get("name", "") for c in common.get("tls_certificate_sds_secret_configs") or []]
    validation = (common.get("combined_validation_context") or {}).get(
        "default_validation_context"
    ) or common.get("validation_context") or {}
    sans = [
        str((m.get("matcher") or {}).get("exact") or (m.get("matcher") or {}).get("prefix") or "")
        for m in validation.get("match_typed_subject_alt_names") or []
    ] + [
        str(m.get("exact") or m.get("prefix") or "")
        for m in validation.get("match_subject_alt_names") or []
    ]
    if has_cert and (
        "istio" in alpn or "istio-peer-exchange" in alpn or "default" in sds_names
        or any(s.startswith("spiffe://") for s in sans)
        or any(
            (c.get("certificate_chain") or {}).get("filename", "").startswith("/etc/certs")
            for c in common.get("tls_certificates") or []
        )
    ):
        mode = "istio-mutual"
    elif has_cert:
        mode = "mutual"
    else:
        mode = "simple"
    return TlsInfo(mode, str(ctx.get("sni", "")), [s for s in sans if s])


def cluster_tls(cluster: dict[str, Any]) -> TlsInfo:
    socket = cluster.get("transport_socket")
    if socket:
        ctx = _find_tls_context(socket)
        if ctx is not None:
            return tls_from_context(ctx)
        return TlsInfo("none", detail=str(socket.get("name", "")))
    if cluster.get("tls_context"):  # v2 field
        return tls_from_context(cluster["tls_context"])
    matches = cluster.get("transport_socket_matches") or []
    if matches:
        modes = []
        for match in matches:
            ctx = _find_tls_context(match.get("transport_socket") or {})
            modes.append(tls_from_context(ctx) if ctx is not None else TlsInfo("none"))
        secure = next((m for m in modes if m.mode != "none"), None)
        if secure and any(m.mode == "none" for m in modes):
            return TlsInfo(
                "auto", secure.sni, secure.sans,
                detail=f"{secure.mode} to sidecars, plaintext otherwise",
            )
        return secure or TlsInfo("none")
    return TlsInfo("none")


def cluster_type(cluster: dict[str, Any]) -> str:
    if cluster.get("cluster_type"):
        return str(cluster["cluster_type"].get("name", "CUSTOM")).rsplit(".", 1)[-1]
    return str(cluster.get("type", "STATIC" if "load_assignment" in cluster else "EDS"))


def upstream_http_protocol(cluster: dict[str, Any]) -> str:
    """What the cluster speaks to its hosts: "h2" (HTTP/2, h2c without TLS), "http/1.1",
    "auto" (ALPN), "downstream" (as the caller spoke), or "" when it does not say (HTTP/1.1
    for HTTP traffic). From HttpProtocolOptions in typed_extension_protocol_options, or the
    older cluster-level http2_protocol_options."""
    options = cluster.get("typed_extension_protocol_options")
    http = options.get("envoy.extensions.upstreams.http.v3.HttpProtocolOptions") \
        if isinstance(options, dict) else None
    if isinstance(http, dict):
        explicit = http.get("explicit_http_config")
        if isinstance(explicit, dict):
            if "http2_protocol_options" in explicit:
                return "h2"
            if "http_protocol_options" in explicit:
                return "http/1.1"
        if "auto_config" in http:
            return "auto"
        if "use_downstream_protocol_config" in http:
            return "downstream"
    if "http2_protocol_options" in cluster:
        return "h2"
    return ""


def circuit_breakers(cluster: dict[str, Any]) -> dict[str, int]:
    """DEFAULT-priority thresholds; Envoy omits the priority field for DEFAULT."""
    for threshold in (cluster.get("circuit_breakers") or {}).get("thresholds") or []:
        if threshold.get("priority", "DEFAULT") == "DEFAULT":
            out = {}
            for key in ("max_connections", "max_pending_requests", "max_requests", "max_retries"):
                value = protojson.uint(threshold.get(key))
                if value is not None:
                    out[key] = value
            return out
    return {}


def istio_metadata(resource: dict[str, Any]) -> dict[str, Any]:
    meta = (resource.get("metadata") or {}).get("filter_metadata") or {}
    return dict(meta.get("istio") or {})


def name_of(resource: dict[str, Any]) -> str:
    """A resource's name, which Envoy always writes as a string: anything else marks a
    malformed resource (the reader skips it and says so) rather than a name like "{...}"."""
    name = resource.get("name", "")
    if not isinstance(name, str):
        raise TypeError(f"name is {type(name).__name__}, not a string")
    return name


def cluster_record(cluster: dict[str, Any], state: str, version: str) -> ClusterRecord:
    eds = cluster.get("eds_cluster_config") or {}
    return ClusterRecord(
        name=name_of(cluster),
        state=state,
        type=cluster_type(cluster),
        version_info=version,
        tls=cluster_tls(cluster),
        circuit_breakers=circuit_breakers(cluster),
        outlier=dict(cluster.get("outlier_detection") or {}),
        istio=istio_metadata(cluster),
        eds_service_name=str(eds.get("service_name", "")),
        raw=cluster,
    )


# ---------------------------------------------------------------------------------------
# listeners

_HCM_NAMES = ("envoy.filters.network.http_connection_manager", "envoy.http_connection_manager")
_TCP_NAMES = ("envoy.filters.network.tcp_proxy", "envoy.tcp_proxy")


def _filter_name(flt: dict[str, Any]) -> str:
    name = str(flt.get("name", ""))
    if name in _HCM_NAMES or "HttpConnectionManager" in str(
        (flt.get("typed_config") or {}).get("@type", "")
    ):
        return _HCM_NAMES[0]
    if name in _TCP_NAMES:
        return _TCP_NAMES[0]
    return name


def chain_info(chain: dict[str, Any]) -> FilterChainInfo:
    filters = chain.get("filters") or []
    names = [_filter_name(f) for f in filters]
    route_config = ""
    inline = None
    tcp_cluster = ""
    rbac: list[RbacEngine] = []
    for flt, name in zip(filters, names, strict=True):
        typed = flt.get("typed_config") or flt.get("config") or {}
        if not isinstance(typed, dict):
            continue
        rbac += rbac_engines(name, typed)
        if name == _HCM_NAMES[0]:
            route_config = str((typed.get("rds") or {}).get("route_config_name", ""))
            inline = typed.get("route_config")
            http_filters = typed.get("http_filters")
            for http_filter in http_filters if isinstance(http_filters, list) else []:
                if isinstance(http_filter, dict) and isinstance(http_filter.get("typed_config"),
                                                                dict):
                    rbac += rbac_engines(str(http_filter.get("name", "")),
                                         http_filter["typed_config"])
        elif name == _TCP_NAMES[0]:
            tcp_cluster = str(typed.get("cluster", "")) or ",".join(
                c.get("name", "") for c in (typed.get("weighted_clusters") or {}).get("clusters", [])
            )
    socket = chain.get("transport_socket") or {}
    ctx = (socket.get("typed_config") or {}) if socket else (chain.get("tls_context") or {})
    tls_required = bool(ctx) and (
        "common_tls_context" in ctx or "DownstreamTlsContext" in str(ctx.get("@type", ""))
    )
    require_cert = protojson.uint(ctx.get("require_client_certificate")) if ctx else None
    if ctx.get("require_client_certificate") is True:
        require_cert = 1
    return FilterChainInfo(
        name=str(chain.get("name", "")),
        match=dict(chain.get("filter_chain_match") or {}),
        tls_required=tls_required,
        tls_client_cert_required=bool(require_cert),
        filters=names,
        route_config=route_config,
        inline_routes=inline,
        tcp_cluster=tcp_cluster,
        rbac=rbac,
    )


def listener_record(listener: dict[str, Any], state: str, error: str) -> ListenerRecord:
    address, port = socket_address(listener.get("address") or {})
    chains = [chain_info(c) for c in listener.get("filter_chains") or []]
    if listener.get("default_filter_chain"):
        chains.append(chain_info(listener["default_filter_chain"]))
    return ListenerRecord(
        name=name_of(listener),
        state=state,
        address=address,
        port=port,
        direction=str(listener.get("traffic_direction", "")),
        chains=chains,
        error=error,
        raw=listener,
    )


# ---------------------------------------------------------------------------------------
# routes


def describe_match(match: dict[str, Any]) -> str:
    for key in ("prefix", "path", "path_separated_prefix"):
        if key in match:
            text = f"{key} {match[key]}"
            break
    else:
        regex = (match.get("safe_regex") or {}).get("regex") or match.get("regex")
        if regex is not None:
            text = f"regex {regex}"
        elif match.get("path_match_policy"):
            text = "path template"
        elif match.get("connect_matcher") is not None:
            text = "CONNECT"
        else:
            text = "any"
    headers = [h.get("name", "") for h in match.get("headers") or []]
    if headers:
        text += " headers " + ",".join(headers)
    return text


def route_record(config_name: str, vhost: dict[str, Any], route: dict[str, Any]) -> RouteRecord:
    clusters: list[tuple[str, int | None]] = []
    action = "unknown"
    if "route" in route:
        target = route["route"]
        if "cluster" in target:
            clusters = [(str(target["cluster"]), None)]
            action = "route"
        elif "weighted_clusters" in target:
            clusters = [
                (str(c.get("name", "")), protojson.uint(c.get("weight")))
                for c in target["weighted_clusters"].get("clusters") or []
            ]
            action = "weighted"
        elif "cluster_header" in target:
            action = f"cluster from header {target['cluster_header']}"
        elif "cluster_specifier_plugin" in target:
            action = "cluster plugin"
    elif "redirect" in route:
        action = "redirect"
    elif "direct_response" in route:
        action = f"direct {route['direct_response'].get('status', '')}"
    elif "non_forwarding_action" in route:
        action = "non-forwarding"
    return RouteRecord(
        route_config=config_name,
        virtual_host=str(vhost.get("name", "")),
        domains=[str(d) for d in vhost.get("domains") or []],
        match=describe_match(route.get("match") or {}),
        action=action,
        clusters=clusters,
        istio=istio_metadata(route),
        raw=route,
    )
