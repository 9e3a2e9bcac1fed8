"""Real Istio config dumps and /clusters outputs parse without losing anything, and agree
with what istioctl printed for the same files (tests/data/istio, copied from shared/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_meshdebug.envoy.clusters_status import parse_clusters_json, parse_clusters_text
from kubectl_meshdebug.envoy.config_dump import ConfigDump
from kubectl_meshdebug.mesh.rows import endpoint_rows, endpoint_rows_from_dump, route_rows
from tests.helpers import DATA

DUMPS = sorted((DATA / "istio" / "config_dump").rglob("*.json"))


def _raw_counts(doc: dict) -> tuple[int, int, int]:
    clusters = listeners = routes = 0
    for section in doc["configs"]:
        for key in ("static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters"):
            clusters += len(section.get(key, []))
        listeners += len(section.get("static_listeners", []))
        for dyn in section.get("dynamic_listeners", []):
            listeners += sum(1 for s in ("active_state", "warming_state", "draining_state")
                             if s in dyn) or 1
        for key in ("static_route_configs", "dynamic_route_configs"):
            for rc in section.get(key, []):
                for vh in rc["route_config"].get("virtual_hosts", []):
                    routes += len(vh.get("routes", []))
    return clusters, listeners, routes


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: p.name)
def test_dump_parses_without_loss(path: Path):
    doc = json.loads(path.read_text())
    dump = ConfigDump.from_json(doc)
    clusters, listeners, routes = _raw_counts(doc)
    assert len(dump.clusters()) == clusters
    assert len(dump.listeners()) == listeners
    rds_routes = [r for config, state in dump.route_configs() if not state.startswith("inline")
                  for vh in config.get("virtual_hosts", []) for r in vh.get("routes", [])]
    assert len(rds_routes) == routes
    assert all(c.name for c in dump.clusters())


def _istioctl_table(path: Path) -> list[list[str]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [line.split() for line in lines[1:]]


def test_eds_endpoints_match_istioctl():
    base = DATA / "istio" / "config_dump" / "endpoints" / "bookinfo-sidecar-eds"
    dump = ConfigDump.from_json(json.loads(Path(str(base) + ".json").read_text()))
    # istioctl prints pipe endpoints of EDS as bare paths; we write unix://PATH everywhere
    ours = {(r["endpoint"].removeprefix("unix://"), r["eds_health_status"], r["cluster"])
            for r in endpoint_rows_from_dump(dump, None)}
    theirs = {(row[0], row[1], row[-1])
              for row in _istioctl_table(Path(str(base) + ".istioctl-pc-endpoint.txt"))}
    assert ours == theirs


def test_camelcase_clusters_json_matches_istioctl():
    base = DATA / "istio" / "clusters" / "json" / "clusters-envoy1.8-camelcase"
    statuses = parse_clusters_json(json.loads(Path(str(base) + ".json").read_text()))
    ours = {(r["endpoint"], r["eds_health_status"],
             "FAILED" if "failed_outlier_check" in r["health_flags"] else "OK", r["cluster"])
            for r in endpoint_rows(statuses, None)}
    theirs = {tuple(row) for row in _istioctl_table(
        Path(str(base) + ".istioctl-pc-endpoint.txt"))}
    assert ours == theirs
    failed = [r for r in endpoint_rows(statuses, None) if r["status"] == "UNHEALTHY"]
    assert {r["endpoint"] for r in failed} == {"172.17.0.14:15014", "172.17.0.27:9080"}


@pytest.mark.parametrize("name", ["istio-gateway-http-route-prefix",
                                  "k8s-gateway-http-route-path-prefix", "empty-gateway"])
def test_routes_match_istioctl(name: str):
    base = DATA / "istio" / "config_dump" / "routes" / name
    dump = ConfigDump.from_json(json.loads(Path(str(base) + ".json").read_text()))
    ours = route_rows(dump, None)
    text = Path(str(base) + ".istioctl-pc-routes.txt").read_text()
    for row in ours:
        assert row["virtual_host"] in text
        if row["virtual_service"]:
            ns, vs = row["virtual_service"].split("/")
            assert f"{vs}.{ns}" in text
    assert sum(1 for r in ours) == len(_istioctl_table(
        Path(str(base) + ".istioctl-pc-routes.txt")))


def test_clusters_text_dump_keeps_every_cluster():
    path = DATA / "istio" / "clusters" / "text" / "vm-sidecar-multinetwork-istio1.8.clusters.txt"
    text = path.read_text()
    statuses = parse_clusters_text(text)
    names = {line.split("::")[0] for line in text.splitlines() if "::" in line}
    assert set(statuses) == names
    hosts = {(line.split("::")[0], line.split("::")[1]) for line in text.splitlines()
             if line.count("::") == 3 and line.split("::")[2] == "health_flags"}
    assert sum(len(s.hosts) for s in statuses.values()) == len(hosts)


def test_waypoint_dump_names():
    path = DATA / "istio" / "config_dump" / "waypoint" / "httpbin-waypoint-istio1.21.json"
    dump = ConfigDump.from_json(json.loads(path.read_text()))
    from kubectl_meshdebug.mesh.names import parse_cluster_name

    vip = parse_cluster_name("inbound-vip|8000|http|httpbin.default.svc.cluster.local")
    assert (vip.direction, vip.port, vip.subset) == ("inbound-vip", 8000, "http")
    eps = {r["endpoint"] for r in endpoint_rows_from_dump(dump, None)}
    assert "envoy://connect_originate/192.168.195.248:800" in eps


def test_secrets_dump_keeps_no_key_material():
    from kubectl_meshdebug.envoy.redact import redact

    path = DATA / "istio" / "config_dump" / "secrets" / "istio-sds-secrets.json"
    doc = redact(json.loads(path.read_text()))
    text = json.dumps(doc)
    assert "PRIVATE KEY" not in text
    for section in doc["configs"]:
        for secret in section.get("dynamic_active_secrets", []):
            tls = secret.get("secret", {}).get("tls_certificate", {})
            if "private_key" in tls:
                assert tls["private_key"]["inline_bytes"] == "W3JlZGFjdGVkXQ=="


def test_route_timeouts_in_envoys_words():
    """istiod writes `timeout: 0s` (no timeout) on routes whose VirtualService sets none;
    a route action without `timeout` waits Envoy's default 15 s; a redirect has none."""
    from kubectl_meshdebug.render.proxyconfig import route_timeout

    dump = DATA / "istio" / "config_dump" / "sidecar" / "productpage-v1-automtls-istio1.4.json"
    assert route_timeout({"action": "route", "timeout": "0s"}) == "none (disabled)"
    assert route_timeout({"action": "route"}) == "15s (Envoy default)"
    assert route_timeout({"action": "weighted", "timeout": "2.500s"}) == "2.500s"
    assert route_timeout({"action": "redirect", "timeout": "0s"}) == "-"
    from tests.helpers import run

    wide = run("routes", "--dump", str(dump), "-o", "wide").out
    assert "none (disabled)" in wide and " 0s " not in wide
    assert {r["timeout"] for r in run("routes", "--dump", str(dump), "-o", "json").json()[
        "items"]} >= {"0s"}  # the data stays Envoy's
