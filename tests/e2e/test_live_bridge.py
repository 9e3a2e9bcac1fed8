"""Live mode end to end: the API server is a fake fed the lab's real object JSON, and the
exec stream is bridged to the lab's real Envoys, so that `why-503 POD SVC` runs exactly as
against a cluster: pods read through the API, `pilot-agent request` through exec, logs
through the API, and Envoy's real answers behind all of it."""

from __future__ import annotations

import http.client
import json

import pytest

from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.helpers import run
from tests.unit.test_exec_transport import SUCCESS, FakeExecStream, exit_status
from tests.unit.test_live_cluster import FakeApiServer, FakeResponse

pytestmark = pytest.mark.e2e


class LabApiServer(FakeApiServer):
    """Also serves pod logs from the lab's log files."""

    def __init__(self, mesh):
        super().__init__(json.loads(json.dumps(mesh.manifests())), v1_istio=True)
        self.mesh = mesh

    def __call__(self, path, method, *args, **kwargs):
        if "/log?" in path:
            name = path.split("/pods/")[1].split("/")[0]
            envoy = self.mesh.envoys[name]
            return (FakeResponse(envoy.log_path.read_bytes()), 200, {})
        return super().__call__(path, method, *args, **kwargs)


def bridge(mesh, calls):
    """kubernetes.stream.stream for exec: run pilot-agent's request against the lab."""
    def stream(func, name, namespace, **kwargs):
        argv = kwargs["command"]
        calls.append((namespace, name, kwargs["container"], argv))
        assert argv[:2] == ["pilot-agent", "request"], argv
        method, path = argv[2], "/" + argv[3]
        host, port = mesh.envoys[name].admin
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request(method, path)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status in (200, 404):  # pilot-agent treats 404 as success
            return FakeExecStream([body, b"\n"], [], SUCCESS)
        message = f"Error: received unsuccessful status code {resp.status}: ".encode() + body
        return FakeExecStream([], [message], exit_status(1))
    return stream


@pytest.mark.parametrize("name", ["dr-no-tls", "target-port", "healthy"])
def test_why503_live_through_exec(mocker, name):
    scenario = SCENARIOS[name]
    mesh = scenario.build()
    calls = []
    with mesh:
        scenario.run_traffic(mesh)
        mocker.patch("kubernetes.config.load_kube_config", return_value=None)
        mocker.patch("kubernetes.client.ApiClient.call_api", side_effect=LabApiServer(mesh))
        mocker.patch("kubernetes.stream.stream", side_effect=bridge(mesh, calls))
        result = run("why-503", "sleep", scenario.service, "-n", "foo", "--logs", "-o", "json")
    doc = result.json()
    ids = [f["id"] for f in doc["findings"]]
    if scenario.expected is None:
        assert result.code == 0 and ids == []
    else:
        assert result.code == 1 and ids[0] == scenario.expected, ids
    assert doc["read"]["objects"] == "api-server"
    assert doc["read"]["logs"], "logs should come through the API server"
    assert {c[2] for c in calls} == {"istio-proxy"}
    assert {c[1] for c in calls} >= {"sleep"}


def test_loglevel_live_through_exec(mocker):
    mesh = SCENARIOS["healthy"].build()
    calls = []
    with mesh:
        mocker.patch("kubernetes.config.load_kube_config", return_value=None)
        mocker.patch("kubernetes.client.ApiClient.call_api", side_effect=LabApiServer(mesh))
        mocker.patch("kubernetes.stream.stream", side_effect=bridge(mesh, calls))
        result = run("loglevel", "deploy/nothing", "-n", "foo")
        assert result.code == 2 and "deployment foo/nothing not found" in result.err
        result = run("loglevel", "sleep", "-n", "foo", "router:trace")
        assert result.code == 0, result.err
        levels = run("loglevel", "sleep", "-n", "foo", "-o", "json").json()
        assert levels["items"][0]["loggers"]["router"] == "trace"
        run("loglevel", "sleep", "-n", "foo", "--reset")
    assert [c[3][3] for c in calls][:2] == ["logging", "logging?paths=router:trace"]
