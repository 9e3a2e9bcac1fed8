"""Property-based fuzzing of every parser: whatever the input, no exception escapes except
the parser's own 'this is not valid input' error, which the CLI turns into one line."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_meshdebug.envoy.accesslog import parse_line, parse_log
from kubectl_meshdebug.envoy.clusters_status import parse_clusters_json, parse_clusters_text
from kubectl_meshdebug.envoy.config_dump import ConfigDump, ConfigDumpError, load_sections
from kubectl_meshdebug.envoy.explain import explain_entry
from kubectl_meshdebug.envoy.logging import parse_loggers
from kubectl_meshdebug.envoy.proxylog import scan
from kubectl_meshdebug.envoy.stats import parse_stats_text
from kubectl_meshdebug.mesh.names import parse_cluster_name, parse_route_config_name

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "cluster", "configs", "@type", "listener", "route_config",
                         "virtual_hosts", "routes", "domains", "filter_chains", "filters",
                         "typed_config", "transport_socket", "endpoints", "lb_endpoints",
                         "dynamic_active_clusters", "static_clusters", "dynamic_listeners",
                         "active_state", "dynamic_route_configs", "endpoint_config",
                         "cluster_name", "address", "socket_address", "port_value",
                         "circuit_breakers", "thresholds", "metadata", "filter_metadata",
                         "istio", "common_tls_context", "match", "route",
                         "weighted_clusters", "clusters", "host_statuses", "stats",
                         "health_status", "cluster_statuses", "transport_socket_matches"]),
        children, max_size=5),
    max_leaves=30)

TYPES = ["type.googleapis.com/envoy.admin.v3." + t for t in (
    "ClustersConfigDump", "ListenersConfigDump", "RoutesConfigDump", "EndpointsConfigDump",
    "SecretsConfigDump", "BootstrapConfigDump", "ClustersConfigDump.DynamicCluster",
    "ListenersConfigDump.DynamicListener", "RoutesConfigDump.DynamicRouteConfig")]


def _walk(dump: ConfigDump) -> None:
    dump.clusters()
    dump.listeners()
    dump.routes()
    dump.endpoints()
    dump.bootstrap()


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(TYPES), json_values), max_size=4))
def test_config_dump_fragments(sections):
    doc = {"configs": [{"@type": t, **(v if isinstance(v, dict) else {"x": v})}
                       for t, v in sections]}
    try:
        dump = ConfigDump.from_json(doc)
    except ConfigDumpError:
        return
    _walk(dump)
    raw = json.dumps(doc, indent=1).encode()
    _walk(load_sections(raw, {"clusters", "routes"}))


@FUZZ
@given(json_values)
def test_config_dump_any_json(value):
    try:
        _walk(ConfigDump.from_json(value))
    except ConfigDumpError:
        pass


@FUZZ
@given(json_values)
def test_clusters_json_any(value):
    try:
        parse_clusters_json(value)
    except ValueError:
        pass


@FUZZ
@given(st.text(max_size=300))
def test_access_log_lines(line):
    entry = parse_line(line)
    if entry is not None:
        explain_entry(entry)
    parse_log(line)
    scan([line])


@FUZZ
@given(st.lists(st.sampled_from(['[2026-11-22T00:00:00.000Z] "GET / HTTP/1.1" ', "503 ", "UC ",
                                 "- ", '"-" ', "0 ", '"x" ', "outbound|8000||a ", "{", "}",
                                 '"response_code": 503', ", ", "\n", "UF,URX "]), max_size=30))
def test_access_log_shaped_noise(parts):
    text = "".join(parts)
    for entry in parse_log(text)[0]:
        explain_entry(entry)


@FUZZ
@given(st.text(max_size=400))
def test_stats_clusters_loggers_text(text):
    parse_stats_text(text)
    parse_clusters_text(text)
    parse_loggers(text)


@FUZZ
@given(st.lists(st.sampled_from(["outbound", "inbound", "|", "8000", "v1", "_.", "svc",
                                 "cluster.local", "foo", ".", ":", "BlackHoleCluster",
                                 "inbound-vip", "x"]), max_size=12))
def test_names(parts):
    name = "".join(parts)
    parsed = parse_cluster_name(name)
    assert parsed.direction
    parse_route_config_name(name)
