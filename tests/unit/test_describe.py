"""`describe` against istioctl's own describe test cases (tests/data/istio/describe)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import DATA, run

CASES = json.loads((DATA / "istio" / "describe" / "cases.json").read_text())[
    "describe_service_cases"]


def _translate(line: str) -> str | None:
    """istioctl's line -> the line (or fragment) we print for the same fact."""
    stripped = line.strip()
    if stripped.startswith("WARNING POD DOES NOT MATCH ANY SUBSETS"):
        return "WARNING: the pod matches no subset of DestinationRule default/productpage (v1)"
    port_block = ("Port Level Settings:", "8080:", "TLS Mode: DISABLE")
    if stripped in port_block or (stripped.startswith("Policies:") and line.startswith("      ")):
        return "Port 8080: TLS Mode DISABLE, policies load balancer/connection pool/outlier"
    for kind in ("Service: ", "DestinationRule: ", "VirtualService: "):
        if stripped.startswith(kind):
            return kind + "default/" + stripped[len(kind):]
    return stripped or None


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["case"])
def test_describe_states_what_istioctl_states(case):
    inputs = DATA / "istio" / "describe" / case["inputs"]
    expected = (DATA / "istio" / "describe" / case["expected_output"]).read_text()
    expected = expected.split("--------------------")[0]  # gateway exposure: not ours
    result = run("describe", "productpage-v1-1234567890", "-n", "default", "-f", inputs)
    assert result.code == 0, result.err
    for line in expected.splitlines():
        want = _translate(line)
        if want:
            assert want in result.out, f"missing {want!r} in:\n{result.out}"


def test_describe_json_names_subsets_ports_and_routes():
    inputs = DATA / "istio" / "describe" / "cases" / "03-dr-traffic-policy.inputs.yaml"
    result = run("describe", "productpage-v1-1234567890", "-n", "default", "-f", inputs,
                 "-o", "json")
    doc = result.json()
    [svc] = doc["services"]
    assert svc["ports"][0] == {
        "port": 9080, "name": "http", "protocol": "HTTP", "protocol_from": "name",
        "target_port": 9080, "target_port_declared": True, "mtls_mode": "PERMISSIVE",
        "mtls_source": "no PeerAuthentication (Istio's default)"}
    assert svc["destination_rule"]["non_matching_subsets"] == ["v1"]
    assert svc["destination_rule"]["port_level"][0]["tls_mode"] == "DISABLE"
    assert [r["weight"] for r in svc["virtual_services"][0]["routes"]] == [30, 20, 50]


def test_describe_warns_on_undeclared_target_port_and_strict_plaintext(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("""
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  containers:
  - {name: app, ports: [{containerPort: 9090}]}
  - {name: istio-proxy, image: istio/proxyv2:1.24.0}
status: {phase: Running}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  trafficPolicy: {tls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
""")
    result = run("describe", "web-1", "-n", "shop", "-f", manifest)
    assert result.code == 0, result.err
    assert "targets pod port 8080 (NOT DECLARED by the pod)" in result.out
    assert "mTLS STRICT (PeerAuthentication istio-system/default)" in result.out
    assert "makes clients send plaintext to port 80" in result.out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["case"])
@pytest.mark.parametrize("form", [["svc", "productpage"], ["svc/productpage"]])
def test_describe_svc_as_istioctl_does(case, form):
    """`istioctl x describe svc productpage` is what these cases ran."""
    inputs = DATA / "istio" / "describe" / case["inputs"]
    expected = (DATA / "istio" / "describe" / case["expected_output"]).read_text()
    expected = expected.split("--------------------")[0]
    result = run("describe", *form, "-n", "default", "-f", inputs)
    assert result.code == 0, result.err
    for line in expected.splitlines():
        want = _translate(line)
        if want:
            assert want in result.out, f"missing {want!r} in:\n{result.out}"


def test_describe_names_the_policies_that_can_refuse_calls(tmp_path):
    """The AuthorizationPolicies and RequestAuthentications that apply to the pod: its
    namespace's and the root namespace's, selector matching; not another workload's."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text("""
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  containers:
  - {name: app, ports: [{containerPort: 8080}]}
  - {name: istio-proxy, image: istio/proxyv2:1.24.0}
status: {phase: Running}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: shop}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-post, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {methods: [POST]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: other, namespace: shop}
spec: {selector: {matchLabels: {app: other}}}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  jwtRules: [{issuer: "https://issuer.example.com"}]
""")
    result = run("describe", "web-1", "-n", "shop", "-f", manifest)
    assert result.code == 0, result.err
    assert "   shop/allow-nothing (ALLOW, no rules: allows nothing)" in result.out
    assert "   istio-system/deny-post (DENY, 1 rule(s))" in result.out
    assert "shop/other" not in result.out
    assert "Applied RequestAuthentication:\n   shop/jwt" in result.out
