"""The lab holds what istiod renders: its Envoys replay recordings of real istiod
(lab/recording.py). Their own config dumps are compared with the recordings (nothing lost
or rejected in the replay) and with real sidecars' dumps from other Istio versions
(tests/data). A lab that differs from istiod is a bug in the lab."""

from __future__ import annotations

import json

import pytest

from kubectl_meshdebug.lab import recording
from kubectl_meshdebug.lab.scenarios import LAB_MESHES, SCENARIOS
from tests.helpers import DATA, admin_json

pytestmark = pytest.mark.e2e
SIDECAR = DATA / "istio" / "config_dump" / "sidecar"


def _listeners(doc: dict) -> dict[str, dict]:
    out = {}
    for section in doc["configs"]:
        for entry in section.get("dynamic_listeners", []):
            listener = (entry.get("active_state") or {}).get("listener")
            if listener:
                out[listener["name"]] = listener
    return out


def _chains(listener: dict) -> list[tuple[str, tuple]]:
    """(chain name with the port made generic, the match's keys and protocols)."""
    out = []
    for chain in listener["filter_chains"]:
        match = dict(chain.get("filter_chain_match") or {})
        # older Istio wrote the catch-all's 0.0.0.0/0, which matches what no range does
        if match.get("prefix_ranges") == [{"address_prefix": "0.0.0.0", "prefix_len": 0}]:
            del match["prefix_ranges"]
        port = match.get("destination_port")
        name = chain.get("name", "").replace(f"_{port}", "_PORT") if port and port != 15006 \
            else chain.get("name", "")
        if port and port != 15006:
            match["destination_port"] = "PORT"
        out.append((name, tuple(sorted((k, json.dumps(v, sort_keys=True))
                                       for k, v in match.items())),
                    "tls" if chain.get("transport_socket") else "plain"))
    return sorted(out)


@pytest.fixture(scope="module")
def permissive_lab():
    mesh = LAB_MESHES["permissive-port-80"]()
    with mesh:
        yield mesh


def test_virtual_inbound_has_istiods_chains(permissive_lab):
    real = _listeners(json.loads((SIDECAR / "listeners-rbac-2023.json").read_text()))
    server = next(p for p in permissive_lab.pods if p.name == "httpbin-v1")
    lab = _listeners(admin_json(permissive_lab.admin_url(server), "/config_dump"))
    ours, theirs = lab["virtualInbound"], real["virtualInbound"]
    assert _chains(ours) == _chains(theirs)
    assert [f["name"] for f in ours["listener_filters"]] == \
        [f["name"] for f in theirs["listener_filters"]]
    assert ours["traffic_direction"] == theirs["traffic_direction"] == "INBOUND"
    assert ours["address"]["socket_address"]["port_value"] == 15006


def test_strict_keeps_only_mtls_chains():
    mesh = SCENARIOS["healthy"].build()
    with mesh:
        server = next(p for p in mesh.pods if p.name == "httpbin-v1")
        lab = _listeners(admin_json(mesh.admin_url(server), "/config_dump"))
    protocols = {dict(c.get("filter_chain_match") or {}).get("transport_protocol")
                 for c in lab["virtualInbound"]["filter_chains"]}
    assert protocols == {None, "tls"}  # the blackhole chain matches no protocol


def _route_configs(doc: dict) -> dict[str, dict]:
    return {r["route_config"]["name"]: r["route_config"] for section in doc["configs"]
            for r in section.get("dynamic_route_configs", [])}


def _clusters(doc: dict) -> dict[str, dict]:
    return {c["cluster"]["name"]: c["cluster"] for section in doc["configs"]
            for c in section.get("dynamic_active_clusters", [])}


def test_outbound_route_configs_end_in_istios_catch_all(permissive_lab):
    real = _route_configs(json.loads(
        (SIDECAR / "productpage-v1-automtls-istio1.4.json").read_text()))["9080"]
    lab = _route_configs(admin_json(permissive_lab.admin_url(permissive_lab.client),
                                    "/config_dump"))["80"]
    theirs = next(v for v in real["virtual_hosts"] if v["name"] == "allow_any")
    ours = next(v for v in lab["virtual_hosts"] if v["name"] == "allow_any")
    assert ours["domains"] == theirs["domains"] == ["*"]
    assert ours["routes"][0]["match"] == theirs["routes"][0]["match"]
    assert ours["routes"][0]["route"]["cluster"] == theirs["routes"][0]["route"]["cluster"]
    assert lab["validate_clusters"] is real.get("validate_clusters", False) is False


def test_clusters_carry_istios_names_and_metadata(permissive_lab):
    real = _clusters(json.loads((SIDECAR / "productpage-v1-large-istio1.3.json").read_text()))
    lab = _clusters(admin_json(permissive_lab.admin_url(permissive_lab.client), "/config_dump"))
    for name in ("BlackHoleCluster", "PassthroughCluster"):
        assert name in real and name in lab  # dynamic, from CDS, as istiod sends them
    assert lab["BlackHoleCluster"]["type"] == real["BlackHoleCluster"]["type"] == "STATIC"
    assert "load_assignment" not in lab["BlackHoleCluster"]
    service = lab["outbound|80||httpbin.foo.svc.cluster.local"]
    istio = service["metadata"]["filter_metadata"]["istio"]
    assert istio["services"] == [{"host": "httpbin.foo.svc.cluster.local", "name": "httpbin",
                                  "namespace": "foo"}]


@pytest.mark.parametrize("name", ["four-services", "gateway-client"])
def test_the_replay_holds_every_recorded_resource(name):
    """Every cluster, listener and route config istiod sent is active in the lab's Envoy,
    under the same name (addresses moved into the lab's block), none rejected."""
    mesh = SCENARIOS[name].build()
    rec = recording.load(name)
    with mesh:
        for pod in mesh.pods:
            proxy = rec.proxy(pod.namespace, pod.name)
            if proxy is None:
                continue
            dump = admin_json(mesh.admin_url(pod), "/config_dump")
            stats = admin_json(mesh.admin_url(pod), "/stats?format=json&filter=update_rejected")
            recorded = recording.map_addresses(proxy.to_json(), mesh.address_map)
            assert set(_clusters(dump)) == {c["name"] for c in recorded["clusters"]}
            assert set(_listeners(dump)) == {x["name"] for x in recorded["listeners"]}
            assert set(_route_configs(dump)) == {r["name"] for r in recorded["routes"]}
            assert [s for s in stats["stats"] if s.get("value")] == []
