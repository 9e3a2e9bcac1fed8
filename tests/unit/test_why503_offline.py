"""why-503 on objects alone: a client outside the mesh, and the ways to name the target."""

from __future__ import annotations

from tests.helpers import DATA, run

OBJECTS = DATA / "no-sidecar-client.yaml"


def test_client_without_sidecar_calling_a_strict_server():
    result = run("why-503", "legacy-client", "httpbin", "-n", "foo", "-f", OBJECTS, "-o", "json")
    assert result.code == 1
    [first, *_] = result.json()["findings"]
    assert first["id"] == "peerauth-strict-plaintext-client"
    assert first["resource"] == "Pod foo/legacy-client"


def test_target_forms_resolve_to_the_same_service():
    for target in ("httpbin", "httpbin.foo", "httpbin.foo.svc.cluster.local", "svc/httpbin",
                   "httpbin:8000"):
        result = run("why-503", "legacy-client", target, "-n", "foo", "-f", OBJECTS, "-o",
                     "json")
        assert result.json()["target"] == {"client": "foo/legacy-client",
                                           "host": "httpbin.foo.svc.cluster.local",
                                           "port": 8000}, target


def test_wrong_port_and_missing_port_are_usage_errors():
    result = run("why-503", "legacy-client", "httpbin:9999", "-n", "foo", "-f", OBJECTS)
    assert result.code == 2 and "has no port 9999; its ports: 8000" in result.err
    result = run("why-503", "legacy-client", "example.org", "-n", "foo", "-f", OBJECTS)
    assert result.code == 2 and "say which port" in result.err
