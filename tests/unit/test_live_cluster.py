"""Live-cluster code at the boundary of the kubernetes client: call_api and the exec stream
are replaced by fakes that answer with real object JSON; everything above them is ours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import DATA, run
from tests.unit.test_exec_transport import SUCCESS, FakeExecStream

DESCRIBE = DATA / "istio" / "describe" / "cases" / "03-dr-traffic-policy.inputs.yaml"


class FakeResponse:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.status = 200


class FakeApiServer:
    """Answers GET paths like the API server: lists (kubectl's JSON), single gets, errors."""

    def __init__(self, objects: list[dict], *, missing_groups: tuple[str, ...] = (),
                 errors: dict[str, int] | None = None, v1_istio: bool = False) -> None:
        self.objects = objects
        self.missing_groups = missing_groups
        self.errors = errors or {}
        self.v1_istio = v1_istio
        self.paths: list[str] = []

    def __call__(self, path, method, *args, **kwargs):
        from kubernetes.client.exceptions import ApiException

        self.paths.append(path)
        for prefix, status in self.errors.items():
            if path.startswith(prefix):
                raise ApiException(status=status, reason="Forbidden" if status == 403 else "x")
        parts = path.strip("/").split("/")
        if parts[0] == "apis":
            group, version = parts[1], parts[2]
            if group in self.missing_groups or (group.endswith("istio.io") and version == "v1"
                                                and not self.v1_istio):
                raise ApiException(status=404, reason="Not Found")
            rest = parts[3:]
        else:
            rest = parts[2:]
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        items = [o for o in self.objects if o["kind"].lower() + "s" == plural
                 or (plural == "endpoints" and o["kind"] == "Endpoints")
                 or (plural == "peerauthentications" and o["kind"] == "PeerAuthentication")]
        if namespace:
            items = [o for o in items if o["metadata"].get("namespace") == namespace]
        if len(rest) == 2:
            found = [o for o in items if o["metadata"]["name"] == rest[1]]
            if not found:
                raise ApiException(status=404, reason="Not Found")
            return (FakeResponse(json.dumps(found[0]).encode()), 200, {})
        return (FakeResponse(json.dumps({"kind": "List", "items": items}).encode()), 200, {})


@pytest.fixture
def api(mocker):
    def install(server: FakeApiServer) -> FakeApiServer:
        mocker.patch("kubernetes.config.load_kube_config", return_value=None)
        mocker.patch("kubernetes.client.ApiClient.call_api", side_effect=server)
        return server

    return install


def objects_from(path: Path) -> list[dict]:
    return [o for o in yaml.safe_load_all(path.read_text()) if o]


def tekton_service() -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "tekton-dashboard", "namespace": "tekton-pipelines"},
            "spec": {"clusterIP": "172.30.118.86", "selector": {"app": "tekton-dashboard"},
                     "ports": [{"name": "http", "port": 443, "protocol": "TCP",
                                "targetPort": 8443}]}}


def test_live_audit_reads_each_kind_once_with_crd_version_fallback(api):
    server = api(FakeApiServer(objects_from(DESCRIBE) + [tekton_service()]))
    result = run("audit", "-A", "-o", "json")
    assert result.code == 1, result.err
    ids = {f["id"] for f in result.json()["findings"]}
    assert "port-protocol-mismatch" in ids
    dr_paths = [p for p in server.paths if "destinationrules" in p]
    assert dr_paths == ["/apis/networking.istio.io/v1/destinationrules",
                        "/apis/networking.istio.io/v1beta1/destinationrules"]
    assert len([p for p in server.paths if p == "/api/v1/services"]) == 1


def test_live_audit_without_istio_says_so(api):
    api(FakeApiServer([tekton_service()],
                      missing_groups=("networking.istio.io", "security.istio.io")))
    result = run("audit", "-A")
    assert result.code == 1
    assert "no DestinationRule resource: Istio is not installed here" in result.err


@pytest.mark.parametrize("status,text", [
    (403, "forbidden: you may not list services cluster-wide; ask for RBAC verb 'list'"),
    (401, "rejected your credentials"),
    (500, "answered 500"),
])
def test_live_api_errors_are_one_line_exit_3(api, status, text):
    api(FakeApiServer([], errors={"/api/v1/services": status}))
    result = run("audit", "-A")
    assert result.code == 3
    assert text in result.err and len(result.err.strip().splitlines()) == 1


def test_unreachable_api_server(mocker):
    import urllib3

    mocker.patch("kubernetes.config.load_kube_config", return_value=None)
    mocker.patch("kubernetes.client.ApiClient.call_api",
                 side_effect=urllib3.exceptions.MaxRetryError(None, "/api", "refused"))
    result = run("audit", "-A")
    assert result.code == 3 and "cannot reach the API server" in result.err


def test_live_clusters_through_exec(api, mocker):
    objects = objects_from(DESCRIBE)
    api(FakeApiServer(objects))
    dump = json.loads((DATA / "istio" / "config_dump" / "sidecar" /
                       "productpage-v1-automtls-istio1.4.json").read_text())
    clusters = {"configs": [c for c in dump["configs"] if "Clusters" in c["@type"]]}
    statuses = {"cluster_statuses": []}
    commands = []

    def stream(func, name, namespace, **kwargs):
        commands.append((namespace, name, kwargs["container"], kwargs["command"]))
        path = kwargs["command"][3]
        if path.startswith("config_dump?resource=dynamic_active_clusters"):
            body = json.dumps({"configs": [
                {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster",
                 **c} for c in clusters["configs"][0]["dynamic_active_clusters"]]})
        elif path.startswith("config_dump"):
            body = "{}"
        else:
            body = json.dumps(statuses)
        return FakeExecStream([body.encode()], [], SUCCESS)

    mocker.patch("kubernetes.stream.stream", side_effect=stream)
    result = run("clusters", "productpage-v1-1234567890", "-n", "default", "-o", "json")
    assert result.code == 0, result.err
    names = {i["name"] for i in result.json()["items"]}
    assert "outbound|9080|v1|reviews.default.svc.cluster.local" in names
    productpage = next(i for i in result.json()["items"]
                       if i["name"] == "outbound|9080||productpage.default.svc.cluster.local")
    assert productpage["destination_rule"] == "default/productpage"
    assert productpage["expected_tls"].startswith("istio-mutual")
    assert {c[2] for c in commands} == {"istio-proxy"}
    assert all(c[3][:2] == ["pilot-agent", "request"] for c in commands)


def test_live_pod_not_found_suggests_names(api):
    api(FakeApiServer(objects_from(DESCRIBE)))
    result = run("loglevel", "productpage-v1", "-n", "default")
    assert result.code == 2
    assert "pod default/productpage-v1 not found; did you mean productpage-v1-1234567890" \
        in result.err


def test_live_pod_without_sidecar_names_namespace_labels(api):
    objects = objects_from(DESCRIBE) + [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": "default", "labels": {"istio-injection": "enabled"}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "legacy", "namespace": "default"},
         "spec": {"containers": [{"name": "app"}]}, "status": {"phase": "Running"}}]
    api(FakeApiServer(objects))
    result = run("stats", "legacy", "-n", "default")
    assert result.code == 2
    assert "has no istio-proxy container (namespace default has istio-injection=enabled" \
        in result.err
