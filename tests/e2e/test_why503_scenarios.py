"""why-503 on every lab scenario: real Envoys, real traffic, the first finding must be the cause.

Each scenario starts real sidecars with the config istiod would have sent, drives the
failing traffic (so response flags, stats and access logs are Envoy's own), then runs
why-503 offline (-f objects, --admin-url proxies, --log-file logs).
"""

from __future__ import annotations

import pytest

from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.helpers import run

pytestmark = pytest.mark.e2e


@pytest.fixture(params=sorted(SCENARIOS), scope="module")
def scenario_run(request):
    scenario = SCENARIOS[request.param]
    mesh = scenario.build()
    with mesh:
        mesh.write_manifests()
        outcomes = scenario.run_traffic(mesh)
        yield scenario, mesh, outcomes


def test_the_failure_is_real(scenario_run):
    scenario, _mesh, outcomes = scenario_run
    assert any(scenario.symptom in str(o) for o in outcomes), [str(o) for o in outcomes]


def test_first_finding_explains_it(scenario_run):
    scenario, mesh, _ = scenario_run
    result = run(*scenario.why503_args(mesh), "-o", "json")
    doc = result.json()
    ids = [f["id"] for f in doc["findings"]]
    if scenario.expected is None:
        assert result.code == 0 and ids == [], doc["findings"]
        assert "tls-mode-mismatch" in doc["checked"]
    else:
        assert result.code == 1, result.err
        assert ids[0] == scenario.expected, ids
        first = doc["findings"][0]
        assert first["evidence"] and first["fix"]
        assert first["docs"] == f"docs/checks/{scenario.expected}.md"


def test_found_without_access_logs(scenario_run):
    """What a default sidecar exposes (config, /clusters, manager stats) is enough, except
    where only the access log records the symptom."""
    scenario, mesh, _ = scenario_run
    if scenario.needs_logs or scenario.expected is None:
        pytest.skip("this cause shows only in the access log")
    result = run(*scenario.why503_args(mesh, logs=False), "-o", "json")
    ids = [f["id"] for f in result.json()["findings"]]
    assert ids and ids[0] == scenario.expected, ids


def test_text_report_has_evidence_and_fix(scenario_run):
    scenario, mesh, _ = scenario_run
    result = run(*scenario.why503_args(mesh))
    if scenario.expected is None:
        assert "No problems found." in result.out
    else:
        assert f"[{scenario.expected}]" in result.out.splitlines()[2]
        assert "fix:" in result.out and "docs: docs/checks/" in result.out
