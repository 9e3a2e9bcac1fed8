"""A Gateway's credentialName against a real API server: the Secret must be in the gateway
pods' namespace. Secrets are listed as metadata only; audit agrees with istioctl analyze,
and a user who may not list Secrets gets no guess."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.cluster.conftest import kubectl

SCENARIO = "gateway-client"  # an ingress gateway pod in istio-system


def _secret(namespace: str, name: str) -> dict:
    # not a real key pair: the check reads names only, and so does the API server's answer
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"tls.crt": "bm90LWEtY2VydA==", "tls.key": "bm90LWEta2V5"}}


GATEWAY = {
    "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
    "metadata": {"name": "tls-gw", "namespace": "foo"},
    "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["a.example.com"],
         "tls": {"mode": "SIMPLE", "credentialName": "good-cred"}},
        {"port": {"number": 8443, "name": "https-b", "protocol": "HTTPS"},
         "hosts": ["b.example.com"], "tls": {"mode": "SIMPLE", "credentialName": "app-cred"}}]}}
# a gateway workload in foo itself (here httpbin's pods stand in for one), whose Secret is
# missing: what a user with a namespace Role could see, were Secrets readable to her
LOCAL = {
    "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
    "metadata": {"name": "local-gw", "namespace": "foo"},
    "spec": {"selector": {"app": "httpbin"}, "servers": [
        {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["c.example.com"],
         "tls": {"mode": "SIMPLE", "credentialName": "missing-cred"}}]}}
OBJECTS = [_secret("istio-system", "good-cred"), _secret("foo", "app-cred"), GATEWAY, LOCAL]


@pytest.fixture(scope="module")
def credentials(loaded, control_plane):
    api = control_plane.api
    for obj in OBJECTS:
        api.replace(obj)
    try:
        yield
    finally:
        for obj in OBJECTS:
            api.delete(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])


def test_a_secret_in_the_gateways_own_namespace_is_not_found(credentials, control_plane):
    result = kubectl(control_plane, "meshdebug", "audit", "-A", "-o", "json")
    assert result.code == 1, result.err
    found = [f for f in result.json()["findings"] if f["id"] == "gateway-credential-not-found"]
    assert sorted(f["resource"] for f in found) == ["Gateway foo/local-gw", "Gateway foo/tls-gw"]
    remote = next(f for f in found if f["resource"] == "Gateway foo/tls-gw")
    assert "'app-cred'" in remote["summary"] and "exists in foo" in remote["summary"]
    assert "good-cred" not in remote["summary"]


def test_istioctl_analyze_says_the_same(credentials, control_plane):
    from tests.cluster.build import ensure_istio

    proc = subprocess.run([str(ensure_istio() / "istioctl"), "analyze", "-A", "-o", "json"],
                          capture_output=True, text=True, env=control_plane.env("admin"),
                          timeout=120)
    theirs = sorted(m["origin"] for m in json.loads(proc.stdout or "[]")
                    if m["code"] == "IST0101" and "credentialName" in m["message"])
    assert theirs == ["Gateway foo/local-gw", "Gateway foo/tls-gw"], proc.stdout[-800:]


def test_a_user_who_may_not_list_secrets_gets_no_guess(credentials, control_plane):
    result = kubectl(control_plane, "meshdebug", "audit", "-n", "foo", "-o", "json",
                     user="alice")
    assert result.code in (0, 1), result.err
    assert not [f for f in result.json()["findings"]
                if f["id"] == "gateway-credential-not-found"]
    assert "not allowed to read Secret" in result.err
