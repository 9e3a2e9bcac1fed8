"""The offline recipe: audit -f says what the files lacked and what it assumed; collect's
output carries no credential (the live command is tested in tests/cluster)."""

from __future__ import annotations

import yaml

from kubectl_meshdebug.cli.collect import REDACTED, _scrubbed
from tests.helpers import run

DR = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
      "metadata": {"name": "reviews", "namespace": "foo"},
      "spec": {"host": "reviews", "trafficPolicy": {"connectionPool": {
          "tcp": {"maxConnections": 100}}}}}


def _write(tmp_path, docs) -> str:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def test_audit_says_what_it_assumed_for_what_the_files_lack(tmp_path):
    result = run("audit", "-A", "-f", _write(tmp_path, [DR]))
    assert "no mesh config (ConfigMap istio-system/istio) in the files: Istio's defaults " \
           "assumed (auto mTLS on" in result.err
    assert "no Namespace objects in the files" in result.err
    assert "kubectl meshdebug collect -A" in result.err


def test_nothing_is_said_assumed_when_the_files_hold_it(tmp_path):
    docs = [DR, {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "istio", "namespace": "istio-system"},
                 "data": {"mesh": "enableAutoMtls: true\n"}},
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "r", "namespace": "foo"},
             "spec": {"containers": [{"name": "r"}]}}]
    result = run("audit", "-A", "-f", _write(tmp_path, docs))
    assert "assumed" not in result.err and "collect" not in result.err


def test_collect_reads_the_api_server_only(tmp_path):
    result = run("collect", "-A", "-f", _write(tmp_path, [DR]))
    assert result.code == 2 and "collect reads the API server" in result.err


def test_collected_objects_carry_no_credential():
    pod = {"metadata": {"name": "p", "namespace": "foo", "managedFields": [{"x": 1}],
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                        "{\"password\": \"hunter2\"}", "keep": "me"}},
           "spec": {"containers": [{"name": "app", "env": [
               {"name": "DB_PASSWORD", "value": "hunter2"},
               {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
               "args": ["--port=8080", "--token=abc"]}]}}
    out = _scrubbed("Pod", pod)
    text = yaml.safe_dump(out)
    assert "hunter2" not in text and "abc" not in text and "managedFields" not in text
    assert out["metadata"]["annotations"] == {"keep": "me"}
    assert out["spec"]["containers"][0]["env"][0]["value"] == REDACTED
    assert out["spec"]["containers"][0]["args"][0] == "--port=8080"
    assert out["apiVersion"] == "v1" and out["kind"] == "Pod"
    assert pod["spec"]["containers"][0]["env"][0]["value"] == "hunter2"  # a copy was changed
    deploy = {"metadata": {"name": "d", "namespace": "foo"}, "spec": {"template": {"spec": {
        "containers": [{"name": "a", "env": [{"name": "X", "value": "secret"}]}]}}}}
    assert "secret" not in yaml.safe_dump(_scrubbed("Deployment", deploy)["spec"])


def test_only_the_mesh_and_injector_configmaps_are_collected():
    from kubectl_meshdebug.cli.collect import _mesh_config

    def cm(name, data, ns="istio-system"):
        return {"metadata": {"name": name, "namespace": ns}, "data": data}

    assert _mesh_config(cm("istio", {"mesh": "x"}), "istio-system")
    assert _mesh_config(cm("istio-canary", {"mesh": "x"}), "istio-system")
    assert _mesh_config(cm("istio-sidecar-injector", {"values": "{}"}), "istio-system")
    for other in (cm("istio-leader", {}), cm("istio-ca-root-cert", {"root-cert.pem": "x"}),
                  cm("istio-ca-crl", {"ca-crl.pem": "x"}), cm("istio", {"mesh": "x"}, "foo")):
        assert not _mesh_config(other, "istio-system"), other
