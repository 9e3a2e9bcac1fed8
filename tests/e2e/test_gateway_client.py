"""A gateway as why-503's client, on real Envoys: its routes live in route config
`http.PORT`, not in one named by the Service's port (an issue found why-503 calling them
'missing' on a gateway that held them)."""

from __future__ import annotations

import pytest

from kubectl_meshdebug.lab.scenarios import LAB_MESHES, SCENARIOS
from kubectl_meshdebug.lab.traffic import http_call
from tests.helpers import run

pytestmark = pytest.mark.e2e

def test_a_service_no_gateway_route_sends_to_is_route_not_found_in_gateway_terms():
    mesh = LAB_MESHES["gateway-routes-all"]()
    client = mesh.client
    with mesh:
        mesh.write_manifests()
        ok = http_call(mesh.client_target("anything.example.com", 8080), "anything.example.com")
        assert ok.status == 200, ok  # the gateway routes every host to httpbin
        args = ["-f", str(mesh.workdir / "manifests.yaml"), *mesh.admin_url_args()]
        found = run("why-503", client.name, "httpbin.foo:8000", "-n", "istio-system", *args,
                    "-o", "json").json()
        missing = run("why-503", client.name, "orders.foo:9000", "-n", "istio-system",
                      *args, "-o", "json").json()
    assert [f["id"] for f in found["findings"] if f["severity"] == "error"] == []
    hops = {h["hop"]: h for h in found["path"]["hops"]}
    assert hops["route"]["name"].startswith("http.8080 / ") and hops["listener"]["mark"] == "ok"
    [finding] = [f for f in missing["findings"] if f["severity"] == "error"]
    assert finding["id"] == "route-not-found"
    assert "no VirtualService bound to its Gateway" in finding["summary"]
    assert "virtualOutbound" not in finding["summary"] and "missing" not in finding["summary"]


def test_the_gateway_scenario_names_its_cause():
    scenario = SCENARIOS["gateway-client"]
    mesh = scenario.build()
    with mesh:
        mesh.write_manifests()
        scenario.run_traffic(mesh)
        doc = run(*scenario.why503_args(mesh, logs=False), "-o", "json").json()
    assert doc["findings"][0]["id"] == "subset-no-pods"
    assert doc["path"]["hops"][0]["why"].startswith("gateway running")
