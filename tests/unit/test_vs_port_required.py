"""vs-port-required follows where the VirtualService applies: sidecars fall back to the
port a call came in on; a gateway has none, so only there the route breaks."""

from __future__ import annotations

import yaml

from tests.helpers import run

SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reviews", "namespace": "foo"},
       "spec": {"selector": {"app": "reviews"},
                "ports": [{"name": "http", "port": 80}, {"name": "http-admin", "port": 9090}]}}


def _vs(gateways: list[str] | None) -> dict:
    spec = {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]}
    if gateways is not None:
        spec["gateways"] = gateways
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "foo"}, "spec": spec}


def _severity(tmp_path, gateways) -> str:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all([SVC, _vs(gateways)]))
    doc = run("audit", "-A", "-f", str(path), "-o", "json").json()
    [finding] = [f for f in doc["findings"] if f["id"] == "vs-port-required"]
    return finding["severity"]


def test_mesh_only_is_a_warning(tmp_path):
    assert _severity(tmp_path, None) == "warning"
    assert _severity(tmp_path, ["mesh"]) == "warning"


def test_gateway_bound_is_an_error(tmp_path):
    assert _severity(tmp_path, ["istio-system/ingress"]) == "error"
    assert _severity(tmp_path, ["mesh", "istio-system/ingress"]) == "error"
