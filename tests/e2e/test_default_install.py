"""why-503 as Istio's default install leaves a proxy: no access log. The counters Envoy
keeps anyway (/clusters per host) decide between "the calls fail and nothing explains it"
and "no failing call seen"; never "No problems found" for a call that fails."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from kubectl_meshdebug.lab.mesh import LabMesh
from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.conftest import lab_args
from tests.helpers import run

pytestmark = pytest.mark.e2e


def _lab(name: str) -> Iterator[LabMesh]:
    scenario = SCENARIOS[name]
    mesh = scenario.build()
    with mesh:
        mesh.manifest_path = mesh.write_manifests()  # type: ignore[attr-defined]
        scenario.run_traffic(mesh)
        yield mesh


@pytest.fixture(scope="module")
def resets_lab() -> Iterator[LabMesh]:
    yield from _lab("app-resets-connection")


@pytest.fixture(scope="module")
def target_port_lab() -> Iterator[LabMesh]:
    yield from _lab("target-port")


def test_failing_calls_without_an_access_log_are_not_no_problem(resets_lab):
    result = run(*lab_args(resets_lab), "why-503", "sleep", "httpbin:8000", "--no-path")
    assert result.code == 1, result.err
    assert "No problems found" not in result.out
    assert "[failures-unexplained]" in result.out.splitlines()[2]
    assert "kind: Telemetry" in result.out and "kubectl delete telemetry" in result.out
    doc = json.loads(run(*lab_args(resets_lab), "why-503", "sleep", "httpbin:8000",
                         "-o", "json").out)
    evidence = " ".join(e["detail"] for e in doc["findings"][0]["evidence"])
    assert "rq_error" in evidence


def test_a_found_cause_takes_the_counters_as_its_evidence(target_port_lab):
    doc = json.loads(run(*lab_args(target_port_lab), "why-503", "sleep", "httpbin:8000",
                         "-o", "json").out)
    ids = [f["id"] for f in doc["findings"]]
    assert ids and ids[0] != "failures-unexplained" and "failures-unexplained" not in ids


def test_no_failure_counted_is_said_as_such(healthy_lab):
    result = run(*lab_args(healthy_lab), "why-503", "sleep", "httpbin:8000", "--no-path")
    assert result.code == 0, result.err
    assert result.out.startswith("No failing call seen in what was read.")
    assert "turn them on for one workload" in result.err


@pytest.fixture(scope="module")
def breaker_lab() -> Iterator[LabMesh]:
    yield from _lab("circuit-breaker")


def test_a_log_without_access_lines_still_reads_the_breakers(breaker_lab, tmp_path):
    """A log with no access lines (access logging off, Istio's default) is no evidence
    that nothing overflows: the tight breakers are still reported, never "No problems"."""
    log = tmp_path / "noaccess.log"
    log.write_text("2026-12-03T10:00:00.000000Z\tinfo\tenvoy main\tstarting main dispatch\n")
    result = run(*lab_args(breaker_lab), "why-503", "sleep", "httpbin:8000", "--no-path",
                 "--log-file", f"sleep={log}")
    assert "No problems found" not in result.out
    assert "[circuit-breaker-overflow]" in result.out.splitlines()[0]
    assert "a log was read, but holds none" in result.out and "Telemetry" in result.out
    assert result.out.startswith("No failing call seen in what was read.")
    assert "the logs read hold no access-log line" in result.err
