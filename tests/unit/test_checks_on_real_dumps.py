"""Each why-503 check, positive and negative, on a real sidecar's dump (productpage-v1 of
Bookinfo, Istio 1.4, tests/data) with the objects it implies, changed one fact at a time
the way real meshes break: a rule, a rejected update, a log line, an ejected host."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from kubectl_meshdebug.checks.registry import WHY503_CHECKS
from kubectl_meshdebug.checks.runner import run_why503
from kubectl_meshdebug.checks.why503_context import Why503Context
from kubectl_meshdebug.envoy.clusters_status import parse_clusters_json
from kubectl_meshdebug.envoy.config_dump import ConfigDump
from kubectl_meshdebug.envoy.proxyview import ProxyView
from kubectl_meshdebug.kube.state import ClusterState, ManifestSource
from kubectl_meshdebug.mesh.correlate import MeshContext
from kubectl_meshdebug.mesh.target import resolve_target
from tests.helpers import DATA, dump_objects

DUMP = DATA / "istio" / "config_dump" / "sidecar" / "productpage-v1-automtls-istio1.4.json"
NODE = "sidecar~172.30.144.174~productpage-v1-c7765c886-v99jb.default~default.svc.cluster.local"
DETAILS = "outbound|9080||details.default.svc.cluster.local"
REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"
LOG = ('[2026-11-22T02:35:39.456Z] "GET /details/0 HTTP/1.1" {status} {flags} {details} - '
       '"{utfr}" 0 95 {duration} - "-" "curl" "4f3d-{n}" "details:9080" "10.1.0.7:9080" '
       "{cluster} 10.1.0.5:41532 172.30.99.12:9080 10.1.0.5:58290 - default")


def log_line(status: int, flags: str, details: str, cluster: str = DETAILS, utfr: str = "-",
             duration: int = 3, n: int = 0) -> str:
    return LOG.format(status=status, flags=flags, details=details, cluster=cluster, utfr=utfr,
                      duration=duration, n=n)


def obj(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    group = "security.istio.io/v1" if kind == "PeerAuthentication" else "networking.istio.io/v1"
    return {"apiVersion": group, "kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


STRICT = obj("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}})
NO_AUTO_MTLS = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "istio", "namespace": "istio-system"},
                "data": {"mesh": "enableAutoMtls: false\n"}}


def build(target: str = "details:9080", *, objects: list[dict] = (),
          replace: dict[str, dict] | None = None,
          dump_change: Callable[[dict], None] | None = None,
          statuses: dict | None = None, stats: dict | None = None,
          client_log: list[str] = (), server_log: list[str] = ()) -> Why503Context:
    doc = json.loads(DUMP.read_text())
    if dump_change:
        dump_change(doc)
    dump = ConfigDump.from_json(doc)
    implied, ns, client = dump_objects(ConfigDump.from_json(json.loads(DUMP.read_text())), NODE)
    replace = replace or {}
    kept = [o for o in implied if f"{o['kind']} {o['metadata']['name']}" not in replace]
    state = ClusterState(ManifestSource(copy.deepcopy(kept + list(replace.values())
                                                      + list(objects)), ns))
    client_pod = state.get("Pod", ns, client)
    view = ProxyView(f"{ns}/{client}", client_pod)
    view.dump = dump
    if statuses is not None:
        view._statuses = parse_clusters_json(statuses)
    view._stats = dict(stats or {})
    if client_log:
        view.set_log("\n".join(client_log))
    servers = []
    if server_log:
        server = ProxyView("default/details-v1", state.get("Pod", ns, "details-v1"))
        server.set_log("\n".join(server_log))
        servers.append(server)
    return Why503Context(resolve_target(target, ns, state), view, servers, state,
                         MeshContext.build(state, client_pod, ns))


def ids(ctx: Why503Context) -> list[str]:
    return [f.id for f in run_why503(ctx) if f.severity == "error"]


def drop_cluster(name: str) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        for section in doc["configs"]:
            clusters = section.get("dynamic_active_clusters")
            if clusters:
                section["dynamic_active_clusters"] = [c for c in clusters
                                                      if c["cluster"]["name"] != name]
    return change


def plaintext(name: str) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        for section in doc["configs"]:
            for c in section.get("dynamic_active_clusters", []):
                if c["cluster"]["name"] == name:
                    for key in ("transport_socket", "transport_socket_matches",
                                "tls_context"):  # tls_context: the v2 API of Istio 1.4
                        c["cluster"].pop(key, None)
    return change


def statuses_of(cluster: str, hosts: list[dict]) -> dict:
    return {"cluster_statuses": [{"name": cluster, "host_statuses": hosts}]}


def host(address: str, **health: bool) -> dict:
    return {"address": {"socket_address": {"address": address, "port_value": 9080}},
            "health_status": {"eds_health_status": "HEALTHY", **health},
            "stats": [{"name": "rq_total", "value": "5"}, {"name": "rq_error", "value": "5"}]}


def test_the_healthy_dump_has_no_error():
    for target in ("details:9080", "reviews:9080", "productpage:9080"):
        assert ids(build(target)) == [], target


# --- TLS --------------------------------------------------------------------------------

def test_tls_mode_mismatch_positive_and_negative():
    dr = obj("DestinationRule", "details", "default", {
        "host": "details", "trafficPolicy": {"tls": {"mode": "DISABLE"}},
        "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v2", "labels": {"version": "v2"}}]})
    bad = build(objects=[STRICT], replace={"DestinationRule details": dr},
                dump_change=plaintext(DETAILS))
    assert ids(bad)[0] == "tls-mode-mismatch"
    assert "DestinationRule default/details" in run_why503(bad)[0].fix
    assert ids(build(objects=[STRICT])) == []  # ISTIO_MUTUAL to a STRICT server: fine


def test_dr_without_tls_overriding_mesh_wide_mutual():
    dr = obj("DestinationRule", "details", "default", {
        "host": "details", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 1}}},
        "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v2", "labels": {"version": "v2"}}]})
    wide = obj("DestinationRule", "default", "istio-system", {
        "host": "*.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}})
    ctx = build(objects=[STRICT, NO_AUTO_MTLS, wide], replace={"DestinationRule details": dr},
                dump_change=plaintext(DETAILS))
    assert ids(ctx)[0] == "dr-tls-overrides-mtls"
    assert ids(build(objects=[STRICT, NO_AUTO_MTLS, wide])) == []


def test_no_tls_blame_when_no_rule_and_no_server_requirement():
    """Plaintext with no PeerAuthentication anywhere: PERMISSIVE, nothing to blame."""
    assert ids(build(dump_change=plaintext(DETAILS))) == []


# --- paths ------------------------------------------------------------------------------

def test_cluster_not_found_says_the_service_exists():
    ctx = build(dump_change=drop_cluster(DETAILS))
    [finding] = [f for f in run_why503(ctx) if f.id == "cluster-not-found"]
    assert "Service default/details exists" in finding.fix
    assert "is missing or not exported" not in finding.fix


def test_rejected_cds_comes_before_the_missing_cluster():
    ctx = build(dump_change=drop_cluster(DETAILS),
                stats={"cluster_manager.cds.update_rejected": 3})
    assert ids(ctx)[:2] == ["proxy-config-rejected", "cluster-not-found"]


def test_vs_subset_undefined_from_the_route():
    def route_to_v9(doc: dict) -> None:
        for section in doc["configs"]:
            for rc in section.get("dynamic_route_configs", []):
                for vh in rc["route_config"]["virtual_hosts"]:
                    if vh["name"].startswith("details"):
                        vh["routes"][0]["route"]["cluster"] = \
                            "outbound|9080|v9|details.default.svc.cluster.local"
    assert ids(build(dump_change=route_to_v9))[0] == "vs-subset-undefined"


def test_route_not_found_names_the_catch_all():
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "ratings", "namespace": "default"},
           "spec": {"selector": {"app": "ratings"},
                    "ports": [{"name": "http", "port": 9080}]}}
    ctx = build("ratings:9080", objects=[svc])
    [finding] = [f for f in run_why503(ctx) if f.id == "route-not-found"]
    assert "allow_any" in finding.summary and "PassthroughCluster" in finding.summary


def test_no_endpoints_and_subset_no_pods():
    empty = statuses_of(DETAILS, [])
    assert ids(build(statuses=empty))[0] == "no-endpoints"
    # a host there: not no-endpoints; its 5 failed attempts with no cause found are said
    assert ids(build(statuses=statuses_of(DETAILS, [host("10.1.0.7")]))) == \
        ["failures-unexplained"]


def _ok_host(address: str) -> dict:
    return {**host(address), "stats": [{"name": "rq_total", "value": "5"}]}


def test_counters_decide_without_an_access_log():
    """No log: failing attempts in /clusters are failures-unexplained (with the Telemetry
    object that turns the log on), none counted is no finding; a cause found wins."""
    [finding] = run_why503(build(statuses=statuses_of(DETAILS, [host("10.1.0.7")])))
    assert finding.id == "failures-unexplained" and "rq_error 5" in finding.summary
    assert "kind: Telemetry" in (finding.fix or "")
    assert run_why503(build(statuses=statuses_of(DETAILS, [_ok_host("10.1.0.7")]))) == []
    stats = {f"cluster.{DETAILS}.upstream_cx_connect_fail": 4}
    assert ids(build(stats=stats)) == ["failures-unexplained"]
    assert ids(build(statuses=statuses_of(DETAILS, []), stats=stats))[0] == "no-endpoints"
    assert "failures-unexplained" not in ids(build(statuses=statuses_of(DETAILS, []),
                                                   stats=stats))


REGISTRY_ONLY = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "istio", "namespace": "istio-system"},
                 "data": {"mesh": "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"}}


def test_missing_services_and_hosts_outside_the_mesh():
    assert ids(build("nosuch:9080")) == ["service-not-found"]
    assert ids(build("nosuch.default.svc.cluster.local:9080")) == ["service-not-found"]
    passthrough = [f.id for f in run_why503(build("www.example.com:443"))]
    assert passthrough == ["egress-passthrough"]
    assert ids(build("www.example.com:443", objects=[REGISTRY_ONLY])) == ["egress-blocked"]
    entry = obj("ServiceEntry", "example", "default", {
        "hosts": ["www.example.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
        "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]})
    declared = [f.id for f in run_why503(build("www.example.com:443", objects=[entry]))]
    assert "egress-passthrough" not in declared and "egress-blocked" not in declared


# --- upstream ---------------------------------------------------------------------------

def with_outlier(panic: dict | None) -> Callable[[dict], None]:
    """Outlier detection on the details cluster; istiod sets the panic threshold from
    minHealthPercent (0 unless set)."""
    def change(doc: dict) -> None:
        for section in doc["configs"]:
            for c in section.get("dynamic_active_clusters", []):
                if c["cluster"]["name"] == DETAILS:
                    c["cluster"]["outlier_detection"] = {"consecutive_5xx": 1}
                    if panic is not None:
                        c["cluster"]["common_lb_config"] = {"healthy_panic_threshold": panic}
    return change


def test_outlier_ejected_every_host_is_503_uh():
    ejected = statuses_of(DETAILS, [host("10.1.0.7", failed_outlier_check=True)])
    ctx = build(statuses=ejected, dump_change=with_outlier({}))
    [finding] = [f for f in run_why503(ctx) if f.id == "outlier-ejected"]
    assert finding.severity == "error" and "503 UH" in finding.summary
    ctx = build(statuses=ejected, dump_change=with_outlier({"value": 50}))
    [finding] = [f for f in run_why503(ctx) if f.id == "outlier-ejected"]
    assert "panic" in finding.summary
    some = statuses_of(DETAILS, [host("10.1.0.7", failed_outlier_check=True),
                                 host("10.1.0.8")])
    [finding] = [f for f in run_why503(build(statuses=some)) if f.id == "outlier-ejected"]
    assert finding.severity == "warning"


def test_circuit_breaker_overflow_from_the_log():
    line = log_line(503, "UO", "upstream_reset_before_response_started{overflow}")
    assert ids(build(client_log=[line]))[0] == "circuit-breaker-overflow"


def test_upstream_protocol_error_from_the_servers_log_only():
    client = log_line(502, "-", "via_upstream")
    server = log_line(502, "UPE", "upstream_reset_before_response_started{protocol_error}",
                      cluster="inbound|9080||")
    assert ids(build(client_log=[client], server_log=[server]))[0] == "upstream-protocol-error"
    assert ids(build(client_log=[client])) == []


def test_route_timeout_from_the_log():
    line = log_line(504, "UT", "response_timeout", duration=1000)
    assert ids(build(client_log=[line]))[0] == "route-timeout"


def test_app_resets_connection_only_when_tls_agrees():
    server = log_line(503, "UC", "upstream_reset_before_response_started{connection_termination}",
                      cluster="inbound|9080||")
    assert ids(build(objects=[STRICT], server_log=[server]))[0] == "app-resets-connection"
    dr = obj("DestinationRule", "details", "default", {
        "host": "details", "trafficPolicy": {"tls": {"mode": "DISABLE"}},
        "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v2", "labels": {"version": "v2"}}]})
    mismatch = build(objects=[STRICT], replace={"DestinationRule details": dr},
                     dump_change=plaintext(DETAILS), server_log=[server])
    assert ids(mismatch)[0] == "tls-mode-mismatch"
    assert "app-resets-connection" not in ids(mismatch)


def test_log_lines_of_another_service_are_not_this_calls():
    """503 UF to myhttpbin:9000 must not be blamed on details:9080 (a substring once was)."""
    other = log_line(503, "UF", "upstream_reset_before_response_started{remote_connection_"
                     "failure}", cluster="outbound|9000||mydetails.default.svc.cluster.local")
    assert ids(build(client_log=[other])) == []
    same_host_other_port = log_line(
        503, "UF", "upstream_reset_before_response_started{remote_connection_failure}",
        cluster="outbound|9090||details.default.svc.cluster.local")
    assert ids(build(client_log=[same_host_other_port])) == []
    this = log_line(503, "UF", "upstream_reset_before_response_started{remote_connection_"
                    "failure}", utfr="delayed_connect_error:_Connection_refused")
    assert ids(build(client_log=[this])) == ["upstream-connect-failure"]


def test_every_why503_check_is_exercised_here():
    """A check added to WHY503_CHECKS needs a test in this file as well."""
    text = open(__file__).read()
    missing = [c.name for c in WHY503_CHECKS if c.name not in text and not any(
        t.id in text for t in c.emits)]
    assert missing == []


@pytest.mark.parametrize("name", ["proxy-not-ready", "sidecar-egress-hides-host",
                                  "target-port-not-listening"])
def test_remaining_checks_positive(name):
    if name == "proxy-not-ready":
        ctx = build(stats={"control_plane.connected_state": 0})
        ctx.client._ready = (False, "PRE_INITIALIZING")
    elif name == "sidecar-egress-hides-host":
        sidecar = obj("Sidecar", "default", "default", {"egress": [{"hosts": ["istio-system/*"]}]})
        ctx = build(objects=[sidecar])
    else:
        server = log_line(503, "UF", "upstream_reset_before_response_started{remote_connection_"
                          "failure}", cluster="inbound|9080||",
                          utfr="delayed_connect_error:_Connection_refused")
        ctx = build(server_log=[server])
    assert ids(ctx)[0] == name


def _pod(name: str, labels: dict[str, str], sidecar: bool) -> dict:
    containers = [{"name": "app"}] + ([{"name": "istio-proxy"}] if sidecar else [])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": containers},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


def test_peerauth_strict_plaintext_client():
    client = _pod("productpage-v1-c7765c886-v99jb", {"app": "productpage"}, sidecar=False)
    ctx = build(objects=[STRICT], replace={"Pod productpage-v1-c7765c886-v99jb": client})
    assert ids(ctx)[0] == "peerauth-strict-plaintext-client"
    assert "peerauth-strict-plaintext-client" not in ids(build(objects=[STRICT]))


def test_sidecar_missing_behind_a_cluster_that_forces_mtls():
    bare = {f"Pod details-{v}": _pod(f"details-{v}", {"app": "details",
                                                       **({"version": v} if v != "plain"
                                                          else {})}, sidecar=False)
            for v in ("plain", "v1", "v2")}
    findings = run_why503(build(replace=bare))
    [missing] = [f for f in findings if f.id == "sidecar-missing"]
    assert missing.severity == "error"  # the details cluster sends ISTIO_MUTUAL


def test_port_protocol_mismatch_and_protocol_conflict():
    tekton = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "tekton-dashboard", "namespace": "tekton-pipelines"},
              "spec": {"ports": [{"name": "http", "port": 443, "targetPort": 8443}]}}
    ctx = build("api.example.com:443", objects=[tekton])
    assert ids(ctx)[0] == "port-protocol-mismatch"
    legacy = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "legacy", "namespace": "default"},
              "spec": {"ports": [{"name": "tcp", "port": 9080}]}}
    findings = run_why503(build(objects=[legacy]))
    assert [f.severity for f in findings if f.id == "protocol-conflict"] == ["warning"]


def test_http2_port_in_front_of_an_http1_app():
    """details' port named grpc: istiod gives the server sidecar's inbound cluster
    http2_protocol_options; the HTTP/1.1 app makes it answer 502 UPE. The port's name is
    the cause, not the app's headers (upstream-protocol-error is not reported)."""
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "details", "namespace": "default"},
           "spec": {"selector": {"app": "details"},
                    "ports": [{"name": "grpc", "port": 9080, "targetPort": 9080}]}}
    upe = log_line(502, "UPE", "upstream_reset_before_response_started{protocol_error}",
                   cluster="inbound|9080||")
    doc = json.loads(DUMP.read_text())
    for section in doc["configs"]:
        for item in section.get("dynamic_active_clusters") or []:
            if item["cluster"]["name"].startswith("inbound|9080|"):
                item["cluster"]["typed_extension_protocol_options"] = {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3."
                                 "HttpProtocolOptions",
                        "explicit_http_config": {"http2_protocol_options": {}}}}
    h2_dump = ConfigDump.from_json(doc)

    ctx = build(replace={"Service details": svc}, server_log=[upe])
    ctx.servers[0].dump = h2_dump
    assert ids(ctx) == ["http2-port-http1-app"]
    plain = build(replace={"Service details": svc}, server_log=[upe])
    plain.servers[0].dump = ConfigDump.from_json(json.loads(DUMP.read_text()))
    assert ids(plain) == ["upstream-protocol-error"]  # HTTP/1.1 to the app: headers it is
    http = {**svc, "spec": {**svc["spec"], "ports": [{"name": "http", "port": 9080}]}}
    named_http = build(replace={"Service details": http}, server_log=[upe])
    named_http.servers[0].dump = h2_dump
    assert ids(named_http) == ["upstream-protocol-error"]


def test_jwt_rejected_names_the_issuers():
    """A 401 from the server's JWT filter, with the RequestAuthentication that selects it."""
    ra = {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
          "metadata": {"name": "jwt", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"app": "details"}},
                   "jwtRules": [{"issuer": "https://issuer.example.com",
                                 "jwksUri": "https://issuer.example.com/keys"}]}}
    server = log_line(401, "-", "jwt_authn_access_denied{Jwt_issuer_is_not_configured}",
                      cluster="inbound|9080||")
    ctx = build(objects=[ra], server_log=[server])
    [finding] = [f for f in run_why503(ctx) if f.id == "jwt-rejected"]
    assert "Jwt issuer is not configured" in finding.summary
    assert "https://issuer.example.com" in finding.fix
    assert finding.resource == "RequestAuthentication default/jwt"


def test_authz_denied_without_a_policy_name_lists_the_allow_policies():
    policy = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
              "metadata": {"name": "details-callers", "namespace": "default"},
              "spec": {"selector": {"matchLabels": {"app": "details"}},
                       "rules": [{"from": [{"source": {"namespaces": ["other"]}}]}]}}
    server = log_line(403, "-", "rbac_access_denied_matched_policy[none]",
                      cluster="inbound|9080||")
    ctx = build(objects=[policy], server_log=[server])
    assert ids(ctx)[0] == "authz-denied"
    [finding] = [f for f in run_why503(ctx) if f.id == "authz-denied"]
    assert finding.resource == "AuthorizationPolicy default/details-callers"
    assert "principals: [\"cluster.local/ns/default/sa/" in finding.fix


def test_certificates_an_expired_workload_certificate_comes_first():
    """The client's secrets from istioctl's own test dump (a `default` that expired in
    2023): why-503 names it before the handshake failures it causes."""
    secrets = json.loads((DATA / "istio" / "config_dump" / "secrets" /
                          "istio-sds-secrets.json").read_text())["configs"]
    ctx = build(dump_change=lambda doc: doc["configs"].extend(secrets))
    assert ids(ctx)[0] == "cert-expired"
