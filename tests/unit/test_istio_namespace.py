"""--istio-namespace: the control plane, its mesh config and the mesh-wide policies live
where the user says, not only in istio-system; an `istio` ConfigMap elsewhere is not the
mesh config."""

from __future__ import annotations

import yaml

from tests.helpers import run


def _objects(tmp_path, istio_ns: str, extra: list[dict] | None = None) -> str:
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "web", "namespace": "foo", "labels": {"app": "web"}},
         "spec": {"containers": [{"name": "web", "image": "web",
                                  "ports": [{"containerPort": 8080}]},
                                 {"name": "istio-proxy", "image": "proxyv2"}]},
         "status": {"phase": "Running"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "foo"},
         "spec": {"selector": {"app": "web"},
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
         "metadata": {"name": "default", "namespace": istio_ns},
         "spec": {"mtls": {"mode": "STRICT"}}},
        *(extra or []),
    ]
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def _mode(result) -> str:
    assert result.code == 0, result.err
    return result.json()["services"][0]["ports"][0]["mtls_mode"]


def test_mesh_wide_policy_follows_the_istio_namespace(tmp_path):
    objects = _objects(tmp_path, "istio-config")
    assert _mode(run("describe", "web", "-n", "foo", "-f", objects, "-o", "json")) == "PERMISSIVE"
    assert _mode(run("describe", "web", "-n", "foo", "-f", objects, "-o", "json",
                     "--istio-namespace", "istio-config")) == "STRICT"


def test_an_istio_configmap_outside_the_istio_namespace_is_not_the_mesh_config(tmp_path):
    """rootNamespace from a ConfigMap `istio` in foo would move the mesh-wide policy."""
    decoy = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio",
                                                                   "namespace": "foo"},
             "data": {"mesh": "rootNamespace: elsewhere\n"}}
    objects = _objects(tmp_path, "istio-system", [decoy])
    assert _mode(run("describe", "web", "-n", "foo", "-f", objects, "-o", "json")) == "STRICT"


def test_a_bad_istio_namespace_is_usage(tmp_path):
    objects = _objects(tmp_path, "istio-system")
    result = run("describe", "web", "-n", "foo", "-f", objects, "--istio-namespace", "a/../b")
    assert result.code == 2 and result.err.startswith("error: "), result.err
