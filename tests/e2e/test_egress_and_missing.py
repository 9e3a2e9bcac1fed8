"""Calls to a Service that does not exist and to hosts outside the mesh, on real Envoys:
the answer names what is missing or what the mesh config does with the host, instead of
a hedged route-not-found, and the path draws PassthroughCluster and BlackHoleCluster as
what they are."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from kubectl_meshdebug.lab.mesh import LabMesh
from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.conftest import lab_args
from tests.helpers import run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def registry_only_lab() -> Iterator[LabMesh]:
    mesh = SCENARIOS["unknown-host-registry-only"].build()
    with mesh:
        mesh.manifest_path = mesh.write_manifests()  # type: ignore[attr-defined]
        yield mesh


def _why(mesh: LabMesh, target: str) -> tuple[int, dict]:
    result = run(*lab_args(mesh), "why-503", "sleep", target, "-o", "json")
    return result.code, json.loads(result.out)


def _hops(mesh: LabMesh, target: str) -> dict[str, dict]:
    result = run(*lab_args(mesh), "path", "sleep", target, "-o", "json")
    doc = json.loads(result.out)
    hops = {h["hop"]: h for h in doc["hops"]}
    for branch in doc["branches"]:
        hops.update({h["hop"]: h for h in branch["hops"]})
    return hops


def test_a_service_that_does_not_exist_is_named_as_such(healthy_lab):
    code, doc = _why(healthy_lab, "nosuch:8080")
    ids = [f["id"] for f in doc["findings"]]
    assert code == 1 and ids[0] == "service-not-found", ids
    assert "route-not-found" not in ids and "Service foo/nosuch does not exist" in \
        doc["findings"][0]["summary"]
    assert _hops(healthy_lab, "nosuch:8080")["cluster"]["finding"] == "service-not-found"


def test_an_external_host_under_allow_any_passes_through_without_an_error(healthy_lab):
    code, doc = _why(healthy_lab, "www.example.com:443")
    ids = [f["id"] for f in doc["findings"]]
    assert code == 0 and ids == ["egress-passthrough"], ids
    assert "ALLOW_ANY (ConfigMap istio-system/istio)" in doc["findings"][0]["summary"]
    hops = _hops(healthy_lab, "www.example.com:443")
    assert hops["cluster"]["name"] == "PassthroughCluster" and hops["cluster"]["mark"] == "ok"
    assert hops["endpoints"]["mark"] == "ok"  # ORIGINAL_DST: no EDS endpoints, by design


def test_an_external_host_under_registry_only_is_blocked(registry_only_lab):
    code, doc = _why(registry_only_lab, "www.example.com:443")
    ids = [f["id"] for f in doc["findings"]]
    assert code == 1 and ids[0] == "egress-blocked", ids
    assert "sidecar-egress-hides-host" not in ids and "route-not-found" not in ids
    assert "kind: ServiceEntry" in doc["findings"][0]["fix"]
    hops = _hops(registry_only_lab, "www.example.com:443")
    assert hops["cluster"]["name"] == "BlackHoleCluster"
    assert hops["cluster"]["mark"] == "broken" and hops["cluster"]["finding"] == "egress-blocked"
