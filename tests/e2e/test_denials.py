"""403s a policy made, on real Envoys configured by istiod's recorded render: the
server sidecar's own access-log line decoded, the policy named, describe listing it."""

from __future__ import annotations

import pytest

from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.helpers import run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def denied():
    scenario = SCENARIOS["authz-deny-namespace"]
    mesh = scenario.build()
    with mesh:
        mesh.write_manifests()
        outcomes = scenario.run_traffic(mesh)
        yield mesh, outcomes


def test_the_server_sidecar_refuses_with_403(denied):
    _, outcomes = denied
    assert [str(o) for o in outcomes] == ["403 RBAC: access denied"]


def test_logs_explain_names_the_policy_and_rule(denied):
    mesh, _ = denied
    log = mesh.envoys["httpbin-v1"].log_path
    result = run("logs", "--log-file", f"foo/httpbin-v1={log}", "--explain", "--status", "403",
                 "-o", "json")
    assert result.code == 0, result.err
    [item] = result.json()["items"]
    assert item["denied_by"] == "foo/deny-foo" and item["finding"] == "authz-denied"
    assert "rule 0, a DENY policy" in item["explanation"]


def test_describe_lists_the_policy(denied):
    mesh, _ = denied
    result = run("describe", "httpbin-v1", "-n", "foo", "-f", str(mesh.workdir / "manifests.yaml"))
    assert "Applied AuthorizationPolicy:\n   foo/deny-foo (DENY, 1 rule(s))" in result.out
