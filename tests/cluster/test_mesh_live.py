"""Every lab scenario on a real mesh: istiod built from Istio's source configures the
sidecars (real pilot-agent and Envoy, pods in their own network namespaces behind Istio's
iptables rules); the scenario's calls go through them; `kubectl meshdebug why-503` through
the real kubectl must name the scenario's cause first, and path must break at the hop the
story says."""

from __future__ import annotations

import pytest

from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.cluster.conftest import kubectl


@pytest.fixture(params=sorted(SCENARIOS), scope="module")
def scenario_on_mesh(request, istio_mesh):
    scenario = SCENARIOS[request.param]
    istio_mesh.load(scenario.build())
    try:
        outcomes = istio_mesh.drive(scenario)
        yield scenario, outcomes
    finally:
        istio_mesh.unload()


def test_the_calls_fail_as_the_story_says(scenario_on_mesh):
    """The failure is Envoy's own, configured by istiod: the symptom the story names."""
    scenario, outcomes = scenario_on_mesh
    seen = " | ".join(str(o) for o in outcomes)
    assert any(s in seen for s in scenario.real_symptom.split(" | ")), seen


def test_why503_names_the_cause_first(scenario_on_mesh, control_plane):
    scenario, _ = scenario_on_mesh
    live = kubectl(control_plane, "meshdebug", "why-503", "sleep", scenario.service,
                   "-n", "foo", "--logs", "-o", "json")
    findings = live.json()["findings"] if live.out else []
    ids = [f["id"] for f in findings]
    if scenario.real_expected is None:
        errors = [f["id"] for f in findings if f["severity"] == "error"]
        assert live.code == 0 and errors == [], (live.err, ids)
    else:
        assert live.code == 1 and ids[:1] == [scenario.real_expected], (live.err, ids)
    assert "foo/sleep" in live.json()["read"]["logs"]
