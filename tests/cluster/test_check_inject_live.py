"""check-inject against a real MutatingWebhookConfiguration in a real API server.

The API server itself calls the webhook when a pod is created; with the injector's Service
gone it refuses the pod with its own message, which the ReplicaSet controller would record
as a FailedCreate event (recorded here as that controller would). check-inject must name
the cause from the webhook object, the missing Service and that message."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import kubectl
from tests.cluster.kubeapi import ApiError

SCENARIO = "healthy"
WEBHOOK = {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "istio-sidecar-injector"},
    "webhooks": [{
        "name": "namespace.sidecar-injector.istio.io",
        "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system",
                                     "path": "/inject", "port": 443},
                         "caBundle": "Y2E="},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"]}],
        "namespaceSelector": {"matchExpressions": [
            {"key": "istio-injection", "operator": "In", "values": ["enabled"]}]},
        "objectSelector": {"matchExpressions": [
            {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]},
        "sideEffects": "None", "admissionReviewVersions": ["v1"], "failurePolicy": "Fail",
        "timeoutSeconds": 2,
    }],
}


def _webhook(ca_bundle: str) -> dict:
    import copy

    hook = copy.deepcopy(WEBHOOK)
    hook["webhooks"][0]["clientConfig"]["caBundle"] = ca_bundle
    return hook


@pytest.fixture(scope="module", params=["valid-ca", "garbage-ca"])
def shop(request, loaded, lab_cluster, control_plane):
    import base64

    api = lab_cluster.api
    control_plane.ensure_namespace("shop", {"istio-injection": "enabled"}, grant_users=True)
    lab_cluster.namespaces.add("shop")
    ca = base64.b64encode((control_plane.pki / "ca.crt").read_bytes()).decode()
    api.create(_webhook(ca if request.param == "valid-ca" else "Y2E="))
    try:
        with pytest.raises(ApiError) as refused:
            api.create({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "web-5d8f-abcde", "namespace": "shop",
                                     "labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "app", "image": "web"}]}})
        message = str(refused.value).split(": ", 2)[-1]
        api.create({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop"},
                    "spec": {"selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}},
                                          "spec": {"containers": [{"name": "app",
                                                                   "image": "web"}]}}}})
        deployment = api.get("Deployment", "shop", "web")
        api.create({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": "web-5d8f", "namespace": "shop",
                                 "labels": {"app": "web"},
                                 "ownerReferences": [{"apiVersion": "apps/v1",
                                                      "kind": "Deployment", "name": "web",
                                                      "uid": deployment["metadata"]["uid"],
                                                      "controller": True}]},
                    "spec": {"selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}},
                                          "spec": {"containers": [{"name": "app",
                                                                   "image": "web"}]}}}})
        api.create({"apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": "web-5d8f.1", "namespace": "shop"},
                    "involvedObject": {"kind": "ReplicaSet", "name": "web-5d8f",
                                       "namespace": "shop"},
                    "reason": "FailedCreate", "type": "Warning",
                    "message": f"Error creating: {message}"})
        yield request.param, message
    finally:
        api.delete("MutatingWebhookConfiguration", None, "istio-sidecar-injector")
        for kind, name in (("Deployment", "web"), ("ReplicaSet", "web-5d8f"),
                           ("Event", "web-5d8f.1")):
            api.delete(kind, "shop", name)


def test_the_api_server_refuses_the_pod(shop):
    _case, message = shop
    assert "failed calling webhook" in message
    assert "namespace.sidecar-injector.istio.io" in message


def test_check_inject_names_the_cause(shop, control_plane):
    case, message = shop
    result = kubectl(control_plane, "meshdebug", "check-inject", "deploy/web", "-n", "shop",
                     "-o", "json")
    assert result.code == 1, result.err
    doc = result.json()
    [report] = doc["reports"]
    if case == "valid-ca":  # the API server could not find the injector's Service
        assert "not found" in message
        assert "does not exist" in report["reason"], report
    else:  # it could not even read the caBundle
        assert "unable to load root certificates" in message
        assert "caBundle is not a PEM certificate" in report["reason"], report
    assert doc["events"][0]["reason"] == "FailedCreate"


def test_check_inject_warns_about_new_pods_of_a_running_one(shop, control_plane):
    case, _message = shop
    result = kubectl(control_plane, "meshdebug", "check-inject", "sleep", "-n", "foo")
    assert result.code == 1, result.out + result.err
    assert "has a sidecar" in result.out
    assert ("istio-system/istiod does not exist" if case == "valid-ca" else
            "caBundle is not a PEM certificate") in result.out
