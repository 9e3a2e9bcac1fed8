"""Istio's rules as mesh/ implements them: names, hosts, DR precedence, TLS, PeerAuthentication."""

from __future__ import annotations

import pytest

from kubectl_meshdebug.kube.state import ClusterState, ManifestSource
from kubectl_meshdebug.mesh import policy
from kubectl_meshdebug.mesh.hosts import host_matches, resolve_host, vhost_matches
from kubectl_meshdebug.mesh.meshconfig import MeshConfig, parse_mesh
from kubectl_meshdebug.mesh.names import parse_cluster_name, parse_route_config_name
from kubectl_meshdebug.mesh.protocol import port_protocol


def dr(name, ns, host, tls=None, selector=None, export=None, subsets=None, created="2026"):
    spec = {"host": host}
    if tls:
        spec["trafficPolicy"] = {"tls": {"mode": tls}}
    if selector:
        spec["workloadSelector"] = {"matchLabels": selector}
    if export:
        spec["exportTo"] = export
    if subsets:
        spec["subsets"] = subsets
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
            "spec": spec}


def state(*objs):
    return ClusterState(ManifestSource(list(objs)))


HTTPBIN = "httpbin.foo.svc.cluster.local"
REVIEWS = "reviews.default.svc.cluster.local"
PRODUCTPAGE = "productpage.default.svc.cluster.local"


@pytest.mark.parametrize("name,expected", [
    (f"outbound|8000||{HTTPBIN}", ("outbound", 8000, "", HTTPBIN)),
    (f"outbound|9080|v1|{REVIEWS}", ("outbound", 9080, "v1", REVIEWS)),
    ("inbound|8080||", ("inbound", 8080, "", "")),
    (f"inbound|9080|http|{PRODUCTPAGE}", ("inbound", 9080, "http", PRODUCTPAGE)),
    (f"outbound_.9080_.v1_.{REVIEWS}", ("outbound", 9080, "v1", REVIEWS)),
    ("BlackHoleCluster", ("blackhole", None, "", "")),
    ("InboundPassthroughClusterIpv4", ("inbound-passthrough", None, "", "")),
    ("xds-grpc", ("control-plane", None, "", "")),
    ("something|weird", ("other", None, "", "")),
])
def test_cluster_name_grammar(name, expected):
    parsed = parse_cluster_name(name)
    assert (parsed.direction, parsed.port, parsed.subset, parsed.fqdn) == expected


def test_route_config_names():
    assert parse_route_config_name("8000").port == 8000
    assert parse_route_config_name("httpbin.foo.svc.cluster.local:8000").host == \
        "httpbin.foo.svc.cluster.local"
    assert parse_route_config_name("http.8080").kind == "gateway"


def test_hosts():
    assert resolve_host("httpbin", "foo") == "httpbin.foo.svc.cluster.local"
    assert resolve_host("httpbin.foo", "bar") == "httpbin.foo"  # as istiod: dots mean FQDN
    assert host_matches("*.local", "httpbin.foo.svc.cluster.local")
    assert host_matches("*.foo.svc.cluster.local", "httpbin.foo.svc.cluster.local")
    assert not host_matches("*.bar.svc.cluster.local", "httpbin.foo.svc.cluster.local")
    assert vhost_matches(["httpbin.foo", "httpbin.foo:8000"], "httpbin.foo:8000")
    assert vhost_matches(["*"], "anything")
    assert not vhost_matches(["httpbin.foo"], "other.foo")


@pytest.mark.parametrize("port,expected", [
    ({"name": "http", "port": 80}, ("HTTP", "name")),
    ({"name": "http-web", "port": 80}, ("HTTP", "name")),
    ({"name": "grpc-web", "port": 80}, ("GRPC-Web", "name")),
    ({"name": "web", "port": 80, "appProtocol": "https"}, ("HTTPS", "appProtocol")),
    ({"name": "http", "port": 443, "appProtocol": "tls"}, ("TLS", "appProtocol")),
    ({"name": "web", "port": 80}, ("Unknown", "sniffed")),
    ({"port": 80}, ("Unknown", "sniffed")),
    ({"name": "dns", "port": 53, "protocol": "UDP"}, ("UDP", "protocol")),
    # istiod's kube.ConvertProtocol: an appProtocol it does not know is not rescued by the
    # name; Kubernetes' own appProtocols; unknown names on the ports it never sniffs
    ({"name": "http", "port": 80, "appProtocol": "custom"}, ("Unknown", "sniffed")),
    ({"name": "web", "port": 80, "appProtocol": "kubernetes.io/h2c"}, ("HTTP2", "appProtocol")),
    ({"name": "web", "port": 80, "appProtocol": "kubernetes.io/wss"}, ("HTTPS", "appProtocol")),
    ({"name": "db", "port": 3306}, ("TCP", "well-known port")),
    ({"port": 27017}, ("TCP", "well-known port")),
    ({"name": "h2c", "port": 80}, ("Unknown", "sniffed")),
    ({"name": "GRPC-Web-ui", "port": 80}, ("GRPC-Web", "name")),
])
def test_port_protocol(port, expected):
    assert port_protocol(port) == expected


def test_dr_precedence_selector_then_client_ns_then_service_ns_then_root():
    mesh = MeshConfig()
    fqdn = "httpbin.foo.svc.cluster.local"
    objs = [dr("root", "istio-system", "*.local", "ISTIO_MUTUAL"),
            dr("svc-ns", "foo", "httpbin", "SIMPLE"),
            dr("client-ns", "bar", "httpbin.foo.svc.cluster.local", "MUTUAL"),
            dr("client-sel", "bar", "httpbin.foo.svc.cluster.local", "DISABLE",
               selector={"app": "sleep"})]
    s = state(*objs)

    def name(client_ns, labels=None):
        found = policy.find_destination_rule(s, mesh, fqdn, client_ns, labels, "foo")
        return found["metadata"]["name"] if found else None

    assert name("bar", {"app": "sleep"}) == "client-sel"
    assert name("bar", {"app": "other"}) == "client-ns"
    assert name("baz") == "svc-ns"
    s2 = state(objs[0])
    assert policy.find_destination_rule(s2, mesh, fqdn, "baz", None, "foo")["metadata"][
        "name"] == "root"


def test_dr_export_to_dot_hides_it_from_other_namespaces():
    s = state(dr("private", "foo", "httpbin", "DISABLE", export=["."]))
    mesh = MeshConfig()
    fqdn = "httpbin.foo.svc.cluster.local"
    assert policy.find_destination_rule(s, mesh, fqdn, "bar", None, "foo") is None
    assert policy.find_destination_rule(s, mesh, fqdn, "foo", None, "foo") is not None


def test_most_specific_host_wins_within_a_namespace():
    s = state(dr("wide", "foo", "*.foo.svc.cluster.local", "DISABLE"),
              dr("exact", "foo", "httpbin", "ISTIO_MUTUAL"))
    found = policy.find_destination_rule(s, MeshConfig(), "httpbin.foo.svc.cluster.local",
                                         "foo", None, "foo")
    assert found["metadata"]["name"] == "exact"


def test_expected_tls_dr_without_tls_block():
    circuit = dr("httpbin", "foo", "httpbin")
    circuit["spec"]["trafficPolicy"] = {"connectionPool": {"tcp": {"maxConnections": 1}}}
    off = policy.expected_client_tls(circuit, MeshConfig(auto_mtls=False), 8000)
    assert off.mode == "none" and "replaces the mesh-wide ISTIO_MUTUAL" in off.reason
    assert policy.expected_client_tls(circuit, MeshConfig(auto_mtls=True), 8000).mode == "auto"


def test_expected_tls_port_level_and_subset_override():
    rule = dr("r", "foo", "httpbin", "ISTIO_MUTUAL", subsets=[
        {"name": "legacy", "labels": {"v": "1"}, "trafficPolicy": {"tls": {"mode": "DISABLE"}}}])
    rule["spec"]["trafficPolicy"]["portLevelSettings"] = [
        {"port": {"number": 9000}, "tls": {"mode": "SIMPLE"}}]
    mesh = MeshConfig()
    assert policy.expected_client_tls(rule, mesh, 8000).mode == "istio-mutual"
    assert policy.expected_client_tls(rule, mesh, 9000).mode == "simple"
    assert policy.expected_client_tls(rule, mesh, 8000, "legacy").mode == "none"


def pa(name, ns, mode, selector=None, ports=None, created=None):
    spec = {"mtls": {"mode": mode}} if mode else {}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = ports
    metadata = {"name": name, "namespace": ns}
    if created:
        metadata["creationTimestamp"] = created
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": metadata, "spec": spec}


def test_peer_authentication_levels():
    s = state(pa("mesh", "istio-system", "STRICT"), pa("ns", "foo", "PERMISSIVE"),
              pa("wl", "foo", "UNSET", {"app": "db"}, {"5432": {"mode": "DISABLE"}}))
    mesh = MeshConfig()
    assert policy.peer_auth_mode(s, mesh, "bar", {}).mode == "STRICT"
    assert policy.peer_auth_mode(s, mesh, "foo", {"app": "web"}).mode == "PERMISSIVE"
    assert policy.peer_auth_mode(s, mesh, "foo", {"app": "db"}, 5432).mode == "DISABLE"
    assert policy.peer_auth_mode(s, mesh, "foo", {"app": "db"}, 80).mode == "PERMISSIVE"
    assert policy.peer_auth_mode(state(), mesh, "foo", {}).mode == "PERMISSIVE"


def test_peer_authentication_composes_as_istiod():
    """ComposePeerAuthentication: the oldest policy of each level counts, a selector in
    the root namespace is listed but ignored, an UNSET port inherits the workload's mode."""
    s = state(pa("newer", "foo", "DISABLE", created="2026-02-01T00:00:00Z"),
              pa("older", "foo", "STRICT", created="2026-01-01T00:00:00Z"),
              pa("root-selector", "istio-system", "DISABLE", {"app": "db"},
                 created="2025-01-01T00:00:00Z"),
              pa("wl", "foo", None, {"app": "db"},
                 {"5432": {"mode": "UNSET"}, "9000": {"mode": "PERMISSIVE"}},
                 created="2026-03-01T00:00:00Z"))
    merged = policy.merged_peer_authentication(s, MeshConfig(), "foo", {"app": "db"})
    assert merged.mode == "STRICT" and merged.mode_source == "PeerAuthentication foo/older"
    assert merged.per_port == {5432: "STRICT", 9000: "PERMISSIVE"}
    assert sorted(merged.applied) == ["foo/newer", "foo/older", "foo/wl",
                                      "istio-system/root-selector"]
    assert policy.peer_auth_mode(s, MeshConfig(), "foo", {"app": "db"}, 9000).source == \
        "PeerAuthentication foo/wl (port 9000)"


def test_mesh_config_parsing():
    cfg = parse_mesh("enableAutoMtls: false\nrootNamespace: istio-config\n", "ConfigMap x")
    assert (cfg.auto_mtls, cfg.root_namespace) == (False, "istio-config")
    assert parse_mesh("not: [valid", "x").auto_mtls is True
