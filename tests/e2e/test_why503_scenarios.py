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


def test_checks_read_only_what_they_declare(scenario_run):
    """On real Envoys: each check, alone on a fresh context, reads no object kind and no
    proxy data beyond its declaration."""
    from kubectl_meshdebug.checks.context import RecordingState
    from kubectl_meshdebug.checks.registry import WHY503_CHECKS
    from kubectl_meshdebug.checks.runner import BASE_KINDS
    from kubectl_meshdebug.checks.why503_context import Why503Context
    from kubectl_meshdebug.envoy.admin import AdminClient
    from kubectl_meshdebug.envoy.proxyview import collect_views
    from kubectl_meshdebug.kube.state import ClusterState, ManifestSource
    from kubectl_meshdebug.mesh.correlate import MeshContext
    from kubectl_meshdebug.mesh.target import resolve_target
    from kubectl_meshdebug.transport.direct import DirectTransport

    scenario, mesh, _ = scenario_run
    state = ClusterState(ManifestSource(mesh.manifests(), "foo"))
    target = resolve_target(scenario.service, "foo", state)
    peers = [mesh.client] + [p for s in mesh.services for p in s.pods
                             if (s.name, s.namespace) == (target.name, target.namespace)]
    targets = [(f"{p.namespace}/{p.name}", state.get("Pod", p.namespace, p.name),
                AdminClient(DirectTransport(mesh.admin_url(p))) if p.name in mesh.envoys
                else None) for p in peers]
    logs = {f"{p.namespace}/{p.name}": mesh.envoys[p.name].log_path.read_text()
            for p in peers if p.name in mesh.envoys}
    views = collect_views(targets, logs)
    for check in WHY503_CHECKS:
        kinds: set[str] = set()
        proxy: set[str] = set()
        recording = RecordingState(state, kinds)
        for view in views:
            view.recorder = proxy
        context = MeshContext.build(recording, targets[0][1], "foo")
        check.run(Why503Context(target, views[0], views[1:], recording, context))
        assert kinds <= check.kinds | BASE_KINDS, (check.name, kinds - check.kinds)
        assert proxy <= check.proxy, (check.name, proxy - check.proxy)
