"""Builders for the Envoy resources istiod sends a sidecar, in Istio's names and shapes.

Only what the scenarios need: outbound EDS clusters (with auto-mTLS socket matches or an
explicit Istio mTLS context), the per-port route configuration with Istio's domain list
and metadata, outbound/inbound listeners with Istio's access-log format, and a bootstrap
with Istio's stats tags and its default stats inclusion list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CERTS = Path(__file__).parent / "certs"
T = "type.googleapis.com/"

# Istio's default TEXT access-log format (meshConfig.accessLogFormat unset).
ISTIO_ACCESS_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)

# Istio's bootstrap keeps only these stats unless the pod sets proxyStatsMatcher.
ISTIO_STATS_PREFIXES = [
    "reporter=", "cluster_manager", "listener_manager", "server", "cluster.xds-grpc", "wasm",
    "component", "istio",
]
ISTIO_STATS_SUFFIXES = ["rbac.allowed", "rbac.denied", "shadow_allowed", "shadow_denied"]

# Istio's stats tag for listener addresses and HTTP prefixes (IPv4 or IPv6 forms).
_ADDRESS_RE = r"((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\."

ISTIO_RETRY = {
    "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    "num_retries": 2,
    "retry_host_predicate": [{
        "name": "envoy.retry_host_predicates.previous_hosts",
        "typed_config": {"@type": T + "envoy.extensions.retry.host.previous_hosts.v3."
                         "PreviousHostsPredicate"},
    }],
    "host_selection_retry_max_attempts": "5",
    "retriable_status_codes": [503],
}


def file_source(path: Path) -> dict[str, Any]:
    return {"resource_api_version": "V3", "path_config_source": {"path": str(path)}}


def discovery_response(type_url: str, resources: list[dict[str, Any]], version: str) -> dict:
    return {"version_info": version,
            "resources": [{"@type": T + type_url, **r} for r in resources]}


def bootstrap(node_id: str, admin: tuple[str, int], dynamic: dict[str, Path] | None,
              static_clusters: list[dict[str, Any]] | None = None,
              static_listeners: list[dict[str, Any]] | None = None,
              stats_prefixes: list[str] | None = None) -> dict[str, Any]:
    prefixes = ISTIO_STATS_PREFIXES + list(stats_prefixes or [])
    boot: dict[str, Any] = {
        "node": {"id": node_id, "cluster": node_id.split("~")[2].split(".")[0],
                 "metadata": {"ISTIO_VERSION": "1.24.0-meshdebug-lab"}},
        "admin": {"address": {"socket_address": {"address": admin[0], "port_value": admin[1]}}},
        "stats_config": {
            "use_all_default_tags": False,
            "stats_tags": [
                {"tag_name": "cluster_name",
                 "regex": r"^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)"},
                {"tag_name": "http_conn_manager_prefix", "regex": r"^http\.(" + _ADDRESS_RE + r")"},
                {"tag_name": "listener_address", "regex": r"^listener\.(" + _ADDRESS_RE + r")"},
            ],
            "stats_matcher": {"inclusion_list": {"patterns": (
                [{"prefix": p} for p in prefixes] + [{"suffix": s} for s in ISTIO_STATS_SUFFIXES]
            )}},
        },
        "static_resources": {"clusters": static_clusters or [], "listeners": static_listeners or []},
    }
    if dynamic:
        boot["dynamic_resources"] = {
            "cds_config": file_source(dynamic["cds"]),
            "lds_config": file_source(dynamic["lds"]),
        }
    return boot


def istio_metadata(config: str | None = None, services: list[dict[str, str]] | None = None,
                   subset: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if config:
        meta["config"] = config
    if services:
        meta["services"] = services
    if subset:
        meta["subset"] = subset
    return {"filter_metadata": {"istio": meta}} if meta else {}


def istio_mtls_socket(sni: str, san: str, client: str = "sleep") -> dict[str, Any]:
    """The UpstreamTlsContext istiod writes for ISTIO_MUTUAL (files stand in for SDS)."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": T + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": sni,
            "common_tls_context": {
                "alpn_protocols": ["istio-peer-exchange", "istio"],
                "tls_certificates": [{
                    "certificate_chain": {"filename": str(CERTS / f"{client}-cert.pem")},
                    "private_key": {"filename": str(CERTS / f"{client}-key.pem")},
                }],
                "validation_context": {
                    "trusted_ca": {"filename": str(CERTS / "root-cert.pem")},
                    "match_typed_subject_alt_names": [
                        {"san_type": "URI", "matcher": {"exact": san}}],
                },
            },
        },
    }


def auto_mtls_matches(sni: str, san: str) -> list[dict[str, Any]]:
    """Auto mTLS: mTLS to endpoints labelled tlsMode=istio, plaintext to the others."""
    return [
        {"name": "tlsMode-istio", "match": {"tlsMode": "istio"},
         "transport_socket": istio_mtls_socket(sni, san)},
        {"name": "tlsMode-disabled", "match": {},
         "transport_socket": {"name": "envoy.transport_sockets.raw_buffer", "typed_config": {
             "@type": T + "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}},
    ]


def eds_assignment(cluster: str, endpoints: list[tuple[str, int, bool]]) -> dict[str, Any]:
    """endpoints: (address, port, has_sidecar); sidecar endpoints carry tlsMode=istio."""
    lbs = []
    for address, port, sidecar in endpoints:
        lb: dict[str, Any] = {"endpoint": {"address": {"socket_address": {
            "address": address, "port_value": port}}}}
        if sidecar:
            lb["metadata"] = {"filter_metadata": {
                "envoy.transport_socket_match": {"tlsMode": "istio"},
                "istio": {"workload": "lab"}}}
        lbs.append(lb)
    return {"cluster_name": cluster, "endpoints": [{"lb_endpoints": lbs}] if lbs else []}


UNLIMITED = 4294967295


def circuit_breakers_from(traffic_policy: dict[str, Any]) -> dict[str, int] | None:
    """The thresholds istiod renders from a DestinationRule's connectionPool
    (applyConnectionPool): Istio's unlimited defaults, overridden field by field."""
    pool = traffic_policy.get("connectionPool") if isinstance(traffic_policy, dict) else None
    if not isinstance(pool, dict):
        return None
    tcp = pool.get("tcp") if isinstance(pool.get("tcp"), dict) else {}
    http = pool.get("http") if isinstance(pool.get("http"), dict) else {}
    out = {"max_connections": UNLIMITED, "max_pending_requests": UNLIMITED,
           "max_requests": UNLIMITED, "max_retries": UNLIMITED}
    for source, field, target in ((tcp, "maxConnections", "max_connections"),
                                  (http, "http1MaxPendingRequests", "max_pending_requests"),
                                  (http, "http2MaxRequests", "max_requests"),
                                  (http, "maxRetries", "max_retries")):
        if isinstance(source.get(field), int) and source[field] > 0:
            out[target] = source[field]
    return out


def outbound_cluster(name: str, eds_path: Path, *, tls: str, sni: str, san: str,
                     metadata: dict[str, Any], circuit_breakers: dict[str, int] | None = None,
                     outlier: dict[str, Any] | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "EDS",
        "eds_cluster_config": {"service_name": name, "eds_config": file_source(eds_path)},
        "connect_timeout": "1s",
        "lb_policy": "LEAST_REQUEST",
        "common_lb_config": {"healthy_panic_threshold": {}},  # Istio: minHealthPercent 0
        "metadata": metadata,
        "circuit_breakers": {"thresholds": [
            {"max_connections": UNLIMITED, "max_pending_requests": UNLIMITED,
             "max_requests": UNLIMITED, "max_retries": UNLIMITED, "track_remaining": True}]},
    }
    if circuit_breakers:
        cluster["circuit_breakers"] = {"thresholds": [{**circuit_breakers, "track_remaining": True}]}
    if outlier:
        cluster["outlier_detection"] = outlier
    if tls == "istio":
        cluster["transport_socket"] = istio_mtls_socket(sni, san)
    elif tls == "auto":
        cluster["transport_socket_matches"] = auto_mtls_matches(sni, san)
    return cluster


HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def static_cluster(name: str, address: str, port: int, http2: bool = False) -> dict[str, Any]:
    """`http2`: the cluster speaks HTTP/2 (h2c) to the app, as istiod renders the inbound
    cluster of a Service port whose protocol is HTTP2 or GRPC (named http2-*, grpc-*)."""
    cluster: dict[str, Any] = {
        "name": name, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": address,
                                                           "port_value": port}}}}]}]},
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {HTTP_PROTOCOL_OPTIONS: {
            "@type": f"type.googleapis.com/{HTTP_PROTOCOL_OPTIONS}",
            "explicit_http_config": {"http2_protocol_options": {}}}}
    return cluster


def blackhole_cluster() -> dict[str, Any]:
    """As istiod sends it: STATIC with no endpoints, so anything routed there gets 503 UH."""
    return {"name": "BlackHoleCluster", "type": "STATIC", "connect_timeout": "10s"}


def passthrough_cluster(name: str = "PassthroughCluster") -> dict[str, Any]:
    """istiod sends an ORIGINAL_DST cluster (the address the app dialled, which iptables
    captured). Without iptables the original destination would be the listener itself, so
    the lab's passthrough leads to a closed port on loopback: the call fails as 503 UF
    instead of reaching the destination outside the mesh."""
    cluster = static_cluster(name, "127.0.0.1", 9)
    cluster["connect_timeout"] = "10s"
    return cluster


def catch_all_vhost(policy: str) -> dict[str, Any]:
    """The virtual host istiod adds to every outbound route config: `allow_any` to
    PassthroughCluster under ALLOW_ANY, `block_all` answering 502 under REGISTRY_ONLY."""
    if policy == "REGISTRY_ONLY":
        return {"name": "block_all", "domains": ["*"], "include_request_attempt_count": True,
                "routes": [{"match": {"prefix": "/"}, "name": "block_all",
                            "direct_response": {"status": 502}}]}
    return {"name": "allow_any", "domains": ["*"], "include_request_attempt_count": True,
            "routes": [{"match": {"prefix": "/"}, "name": "allow_any",
                        "route": {"cluster": "PassthroughCluster", "timeout": "0s",
                                  "max_grpc_timeout": "0s"}}]}


def virtual_outbound(address: str) -> dict[str, Any]:
    """istiod's catch-all for outbound ports no Service declares (iptables sends every
    outbound connection to 15001; here nothing is redirected to it)."""
    return {
        "name": "virtualOutbound",
        "address": {"socket_address": {"address": address, "port_value": 15001}},
        "use_original_dst": True, "traffic_direction": "OUTBOUND",
        "filter_chains": [{"name": "virtualOutbound-catchall-tcp", "filters": [{
            "name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": "PassthroughCluster", "cluster": "PassthroughCluster"}}]}],
    }


_ISTIO_ALPN = ["istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"]


def _downstream_mtls(server: str, alpn: list[str]) -> dict[str, Any]:
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": T + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {
            "alpn_protocols": alpn,
            "tls_certificates": [{
                "certificate_chain": {"filename": str(CERTS / f"{server}-cert.pem")},
                "private_key": {"filename": str(CERTS / f"{server}-key.pem")}}],
            "validation_context": {
                "trusted_ca": {"filename": str(CERTS / "root-cert.pem")},
                "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {
                    "prefix": "spiffe://cluster.local/"}}]}}}}


def _tcp(cluster: str, stat_prefix: str) -> list[dict[str, Any]]:
    return [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": stat_prefix, "cluster": cluster}}]


def _inbound_hcm(port: int, cluster: str, server: str) -> list[dict[str, Any]]:
    route_config = {
        "name": f"inbound|{port}||",
        "virtual_hosts": [{"name": f"inbound|http|{port}", "domains": ["*"], "routes": [{
            "match": {"prefix": "/"}, "name": "default",
            "route": {"cluster": cluster, "timeout": "0s", "max_stream_duration": {
                "max_stream_duration": "0s", "grpc_timeout_header_max": "0s"}},
            "decorator": {"operation": f"{server}:{port}/*"}}]}],
        "validate_clusters": False,
    }
    return [{"name": "envoy.filters.network.http_connection_manager",
             "typed_config": http_connection_manager(f"inbound_0.0.0.0_{port}",
                                                     route_config=route_config)}]


def virtual_inbound(pod_ip: str, ports: list[tuple[int, str]], *, mode: str,
                    server: str = "httpbin") -> dict[str, Any]:
    """istiod's `virtualInbound` for a sidecar whose Services target `ports`
    [(port, inbound cluster)], under PeerAuthentication `mode` (STRICT, PERMISSIVE or
    DISABLE): the blackhole chain for 15006, per port an mTLS chain (`tls`) and/or a
    plaintext one (`raw_buffer`), then the catch-all chains for undeclared ports.

    iptables would send inbound traffic to 15006 keeping the original port; here the
    listener is also bound at each target port (additional_addresses), which gives the
    filter chains the same destination port to match.
    """
    tls_ok, plain_ok = mode in ("STRICT", "PERMISSIVE"), mode in ("PERMISSIVE", "DISABLE")
    chains: list[dict[str, Any]] = [{
        "name": "virtualInbound-blackhole", "filter_chain_match": {"destination_port": 15006},
        "filters": _tcp("BlackHoleCluster", "BlackHoleCluster")}]
    for port, cluster in ports:
        if tls_ok:
            chains.append({"name": f"0.0.0.0_{port}", "filter_chain_match": {
                "destination_port": port, "transport_protocol": "tls",
                "application_protocols": _ISTIO_ALPN},
                "filters": _inbound_hcm(port, cluster, server),
                "transport_socket": _downstream_mtls(server, ["h2", "http/1.1"])})
        if plain_ok:
            chains.append({"name": f"0.0.0.0_{port}", "filter_chain_match": {
                "destination_port": port, "transport_protocol": "raw_buffer"},
                "filters": _inbound_hcm(port, cluster, server)})
    any_address = {"prefix_ranges": [{"address_prefix": "0.0.0.0", "prefix_len": 0}]}
    if tls_ok:
        chains.append({"name": "virtualInbound-catchall-http", "filter_chain_match": {
            **any_address, "transport_protocol": "tls",
            "application_protocols": ["istio-http/1.0", "istio-http/1.1", "istio-h2"]},
            "filters": _inbound_hcm(0, "InboundPassthroughCluster", server),
            "transport_socket": _downstream_mtls(server, ["h2", "http/1.1"])})
    if plain_ok:
        chains.append({"name": "virtualInbound-catchall-http", "filter_chain_match": {
            **any_address, "transport_protocol": "raw_buffer",
            "application_protocols": ["http/1.1", "h2c"]},
            "filters": _inbound_hcm(0, "InboundPassthroughCluster", server)})
    if tls_ok:
        chains.append({"name": "virtualInbound", "filter_chain_match": {
            **any_address, "transport_protocol": "tls",
            "application_protocols": ["istio-peer-exchange", "istio"]},
            "filters": _tcp("InboundPassthroughCluster", "InboundPassthroughCluster"),
            "transport_socket": _downstream_mtls(server, ["istio-peer-exchange", "h2",
                                                          "http/1.1"])})
    if plain_ok:
        chains.append({"name": "virtualInbound", "filter_chain_match": {
            **any_address, "transport_protocol": "raw_buffer"},
            "filters": _tcp("InboundPassthroughCluster", "InboundPassthroughCluster")})
    if mode == "PERMISSIVE":  # TLS that is not Istio's, passed through as TCP
        chains.append({"name": "virtualInbound", "filter_chain_match": {
            **any_address, "transport_protocol": "tls"},
            "filters": _tcp("InboundPassthroughCluster", "InboundPassthroughCluster")})
    return {
        "name": "virtualInbound",
        "address": {"socket_address": {"address": pod_ip, "port_value": 15006}},
        "additional_addresses": [{"address": {"socket_address": {
            "address": pod_ip, "port_value": port}}} for port, _ in ports],
        "listener_filters": [
            {"name": "envoy.filters.listener.original_dst", "typed_config": {
                "@type": T + "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}},
            {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
                "@type": T + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"},
             "filter_disabled": {"destination_port_range": {"start": 15006, "end": 15007}}},
            {"name": "envoy.filters.listener.http_inspector", "typed_config": {
                "@type": T + "envoy.extensions.filters.listener.http_inspector.v3."
                             "HttpInspector"},
             "filter_disabled": {"destination_port_range": {"start": 15006, "end": 15007}}},
        ],
        "listener_filters_timeout": "0s", "continue_on_listener_filters_timeout": True,
        "traffic_direction": "INBOUND",
        "filter_chains": chains,
        "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": T + "envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": "/dev/stdout",
            "log_format": {"text_format_source": {"inline_string":
                "[%START_TIME%] listener virtualInbound %DOWNSTREAM_TRANSPORT_FAILURE_REASON%\n"
            }}}}],
    }


def service_domains(name: str, namespace: str, port: int, cluster_ip: str) -> list[str]:
    """Istio's domain list for a Service vhost as seen from the client's namespace."""
    fqdn = f"{name}.{namespace}.svc.cluster.local"
    hosts = [fqdn, name, f"{name}.{namespace}.svc.cluster", f"{name}.{namespace}.svc",
             f"{name}.{namespace}", cluster_ip]
    out = []
    for host in hosts:
        out += [host, f"{host}:{port}"]
    return out


def access_log(name: str = "envoy.access_loggers.file") -> list[dict[str, Any]]:
    return [{"name": name, "typed_config": {
        "@type": T + "envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": "/dev/stdout",
        "log_format": {"text_format_source": {"inline_string": ISTIO_ACCESS_LOG_FORMAT}}}}]


def http_connection_manager(stat_prefix: str, *, rds: tuple[str, Path] | None = None,
                            route_config: dict[str, Any] | None = None) -> dict[str, Any]:
    hcm: dict[str, Any] = {
        "@type": T + "envoy.extensions.filters.network.http_connection_manager.v3."
                     "HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "access_log": access_log(),
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": T + "envoy.extensions.filters.http.router.v3.Router"}}],
        "use_remote_address": False,
        "normalize_path": True,
    }
    if rds:
        hcm["rds"] = {"route_config_name": rds[0], "config_source": file_source(rds[1])}
    else:
        hcm["route_config"] = route_config
    return hcm


def outbound_listener(port: int, address: str, rds_path: Path,
                      bind: int | None = None, route_config: str | None = None) -> dict[str, Any]:
    """`0.0.0.0_PORT`, bound to the pod's address: iptables would capture by port. A
    gateway's names its route config `http.PORT` (`route_config`)."""
    return {
        "name": f"0.0.0.0_{port}",
        "address": {"socket_address": {"address": address, "port_value": bind or port}},
        "traffic_direction": "OUTBOUND",
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": http_connection_manager(
                                            f"outbound_0.0.0.0_{port}",
                                            rds=(route_config or str(port), rds_path))}]}],
        "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": T + "envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": "/dev/stdout",
            "log_format": {"text_format_source": {"inline_string":
                "[%START_TIME%] listener %DOWNSTREAM_TRANSPORT_FAILURE_REASON%\n"}}}}],
    }
