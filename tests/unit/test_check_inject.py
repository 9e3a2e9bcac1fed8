"""check-inject on Istio's injection analyzer inputs and on webhook and event objects."""

from __future__ import annotations

import pytest

from tests.helpers import DATA, run

INJECTION = DATA / "istio" / "analyzers" / "injection.yaml"


@pytest.mark.parametrize("pod,code,text", [
    ("injectedpod", 0, "should be injected, has a sidecar"),
    ("noninjectedpod", 1, "it was created before injection was enabled"),  # IST0103
    ("podinjectiondisabled", 0, "opts out with annotation sidecar.istio.io/inject=false"),
    ("podinjectiondisabled-label", 0, "opts out with label sidecar.istio.io/inject=false"),
])
def test_pods_of_istios_injection_inputs(pod, code, text):
    result = run("check-inject", pod, "-n", "default", "-f", INJECTION)
    assert result.code == code, result.out + result.err
    assert text in result.out


def test_unlabelled_namespace_names_the_label_to_add():  # IST0102
    result = run("check-inject", "ns/bar", "-f", INJECTION)
    assert "namespace bar is not labelled for injection" in result.out
    assert "kubectl label namespace bar istio-injection=enabled" in result.out


def test_both_injection_labels_is_noted():  # IST0123
    result = run("check-inject", "ns/busted", "-f", INJECTION)
    assert "istio-injection wins and the revision label is ignored" in result.out


WEBHOOK = """
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector}
webhooks:
- name: namespace.sidecar-injector.istio.io
  clientConfig:
    service: {name: istiod, namespace: istio-system, path: /inject}
    caBundle: %s
  namespaceSelector:
    matchExpressions: [{key: istio-injection, operator: In, values: [enabled]}]
  objectSelector:
    matchExpressions: [{key: sidecar.istio.io/inject, operator: NotIn, values: ["false"]}]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: d-1}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app}]%s}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f
  namespace: shop
  ownerReferences: [{kind: Deployment, name: web, uid: d-1}]
spec: {selector: {matchLabels: {app: web}}}
"""
ISTIOD = """
---
apiVersion: v1
kind: Service
metadata: {name: istiod, namespace: istio-system}
spec: {ports: [{name: https-webhook, port: 443}]}
"""
EVENT = """
---
apiVersion: v1
kind: Event
metadata: {name: web-5d8f.17a, namespace: shop}
involvedObject: {kind: ReplicaSet, name: web-5d8f, namespace: shop}
reason: FailedCreate
message: 'Error creating: Internal error occurred: failed calling webhook
  "namespace.sidecar-injector.istio.io": failed to call webhook: Post
  "https://istiod.istio-system.svc:443/inject?timeout=10s": context deadline exceeded'
"""


CA = (  # a PEM block, as istiod writes it
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJRVENCNmFBREFnRUNBZ0VCTUFvR0NDcUdTTTQ5"
    "QkFNQ01CZ3hGakFVQmdOVkJBTVREV2x6ZEdsdkxYUmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
)


def _write(tmp_path, text):
    path = tmp_path / "objects.yaml"
    path.write_text(text)
    return path


def test_missing_ca_bundle(tmp_path):
    path = _write(tmp_path, WEBHOOK % ('""', "") + ISTIOD)
    result = run("check-inject", "deploy/web", "-n", "shop", "-f", path)
    assert result.code == 1
    assert "has no caBundle" in result.out and "rollout restart deploy/istiod" in result.out


def test_webhook_service_missing(tmp_path):
    path = _write(tmp_path, WEBHOOK % (CA, ""))
    result = run("check-inject", "deploy/web", "-n", "shop", "-f", path)
    assert result.code == 1
    assert "calls Service istio-system/istiod, which does not exist" in result.out


def test_host_network_is_never_injected(tmp_path):
    path = _write(tmp_path, WEBHOOK % (CA, ", hostNetwork: true") + ISTIOD)
    result = run("check-inject", "deploy/web", "-n", "shop", "-f", path)
    assert "pods with hostNetwork: true are never injected" in result.out


def test_workload_without_pods_reads_the_webhook_failure_event(tmp_path):
    path = _write(tmp_path, WEBHOOK % (CA, "") + ISTIOD + EVENT)
    result = run("check-inject", "deploy/web", "-n", "shop", "-f", path, "-o", "json")
    assert result.code == 1
    [report] = result.json()["reports"]
    assert "cannot reach istiod on port 15017" in report["reason"]
    assert result.json()["events"][0]["reason"] == "FailedCreate"


def test_system_namespace(tmp_path):
    path = _write(tmp_path, "apiVersion: v1\nkind: Pod\nmetadata: {name: coredns, namespace: "
                            "kube-system}\nspec: {containers: [{name: dns}]}\n")
    result = run("check-inject", "coredns", "-n", "kube-system", "-f", path)
    assert result.code == 0 and "pods in kube-system are never injected" in result.out


def test_ca_bundle_that_is_not_pem(tmp_path):
    """What the API server answers to such a webhook: 'unable to load root certificates'."""
    path = _write(tmp_path, WEBHOOK % ("Y2E=", "") + ISTIOD)
    result = run("check-inject", "deploy/web", "-n", "shop", "-f", path)
    assert result.code == 1
    assert "caBundle is not a PEM certificate" in result.out
