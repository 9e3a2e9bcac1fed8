"""why-503 in a real cluster: `kubectl meshdebug why-503` through the real kubectl, pods and
objects from a real kube-apiserver, the proxies reached by exec (pilot-agent) and logs
through pods/log, for every lab scenario; the first finding must be the one found offline."""

from __future__ import annotations

import pytest

from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.cluster.conftest import kubectl
from tests.helpers import run


@pytest.fixture(params=sorted(SCENARIOS), scope="module")
def scenario_in_cluster(request, lab_cluster):
    scenario = SCENARIOS[request.param]
    mesh = scenario.build()
    with mesh:
        mesh.write_manifests()
        scenario.run_traffic(mesh)
        lab_cluster.load(mesh)
        yield scenario, mesh


def test_same_first_finding_as_offline(scenario_in_cluster, control_plane):
    scenario, mesh = scenario_in_cluster
    live = kubectl(control_plane, "meshdebug", "why-503", scenario.client, scenario.service,
                   "-n", scenario.client_namespace,
                   "--logs", "-o", "json")
    offline = run(*scenario.why503_args(mesh), "-o", "json")
    live_ids = [f["id"] for f in live.json()["findings"]] if live.out else []
    offline_ids = [f["id"] for f in offline.json()["findings"]]
    assert live_ids[:1] == offline_ids[:1], (live.err, live_ids, offline_ids)
    if scenario.expected is None:
        errors = [f["id"] for f in live.json()["findings"] if f["severity"] == "error"]
        assert live.code == 0 and errors == [], live.err
    else:
        assert live.code == 1 and live_ids[0] == scenario.expected, (live.err, live_ids)
    doc = live.json()
    assert doc["read"]["objects"] == "api-server"
    assert f"{scenario.client_namespace}/{scenario.client}" in doc["read"]["logs"]


def test_path_live_breaks_where_offline_does(scenario_in_cluster, control_plane):
    """path through the real kubectl reads what why-503 reads: the same hops break."""
    scenario, mesh = scenario_in_cluster
    live = kubectl(control_plane, "meshdebug", "path", scenario.client, scenario.service,
                   "-n", scenario.client_namespace,
                   "--logs", "-o", "json")
    offline = run("path", *scenario.why503_args(mesh)[1:], "-o", "json")
    assert live.code == offline.code, live.err
    doc, want = live.json(), offline.json()
    assert doc["broken"] == want["broken"]
    assert [(h["hop"], h["mark"]) for h in doc["hops"]] == \
        [(h["hop"], h["mark"]) for h in want["hops"]]


def test_errors_live_finds_the_failing_edges(scenario_in_cluster, control_plane):
    """errors -n foo through the real kubectl: every sidecar read by exec, the same edges
    and counts as offline."""
    scenario, mesh = scenario_in_cluster
    if scenario.name != "four-services":
        pytest.skip("the map is checked on the four-services scenario")
    live = kubectl(control_plane, "meshdebug", "errors", "-n", "foo", "-o", "json")
    offline = run(*scenario.errors_args(mesh), "-o", "json")
    assert live.code == 1, live.err
    edges = [(i["source"], i["cluster"], i["requests"], i["failures"]) for i in live.json()["items"]]
    assert edges == [(i["source"], i["cluster"], i["requests"], i["failures"])
                     for i in offline.json()["items"]]
    assert [e[1].split("|")[3].split(".")[0] for e in edges] == ["reviews", "ratings"]
    assert live.json()["proxies"]["read"] == 5 and live.json()["proxies"]["failed"] == []
