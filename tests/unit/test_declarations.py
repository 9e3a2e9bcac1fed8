"""Each audit check reads only the object kinds its finding types declare, and every kind it
declares is one some input makes it read (as istio's analyzer tests compare an analyzer's
declared inputs with what it really reads). The runner prefetches exactly the union."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_meshdebug.checks.context import AuditContext, RecordingState
from kubectl_meshdebug.checks.registry import AUDIT_CHECKS
from kubectl_meshdebug.checks.runner import BASE_KINDS, kinds_of
from kubectl_meshdebug.kube.manifests import load_manifests
from kubectl_meshdebug.kube.state import ClusterState, ManifestSource
from tests.helpers import DATA

INPUTS = sorted((DATA / "istio" / "analyzers").glob("*.yaml")) + sorted(
    (DATA / "kiali" / "validations").rglob("*.yaml")) + sorted(
    (DATA / "kiali" / "upstream").rglob("*.yaml"))


def _kiali_cases() -> list[tuple[str, list[dict]]]:
    """The scenarios transcribed from Kiali's checker tests, each as its objects."""
    import yaml

    cases = yaml.safe_load((DATA / "kiali" / "checkers" / "cases.yaml").read_text())["cases"]
    return [(case["name"], case["objects"]) for case in cases]


def _lab_manifests() -> list[tuple[str, list[dict]]]:
    """The lab scenarios' objects (no Envoy is started to make them)."""
    from kubectl_meshdebug.lab.scenarios import SCENARIOS

    out = []
    for name, scenario in sorted(SCENARIOS.items()):
        mesh = scenario.build()
        try:
            out.append((name, mesh.manifests()))
        finally:
            mesh.stop()  # removes the work folder it made
    return out


def _objects(path: Path | tuple[str, list[dict]]) -> list[dict]:
    return path[1] if isinstance(path, tuple) else load_manifests([str(path)])


def _read_by(check, path: Path | tuple[str, list[dict]]) -> set[str]:
    state = ClusterState(ManifestSource(_objects(path), "default"))
    seen: set[str] = set()
    check.run(AuditContext(RecordingState(state, seen), None))
    return seen


@pytest.mark.parametrize("check", AUDIT_CHECKS, ids=lambda c: c.name)
def test_audit_check_reads_what_it_declares(check):
    union: set[str] = set()
    for path in INPUTS + _kiali_cases() + _lab_manifests():
        seen = _read_by(check, path)
        assert seen <= check.kinds | BASE_KINDS, (path, seen - check.kinds)
        union |= seen
    assert check.kinds - union == set(), f"declared but never read: {check.kinds - union}"


def test_runner_prefetches_the_union():
    assert kinds_of(AUDIT_CHECKS) == BASE_KINDS | {k for c in AUDIT_CHECKS for k in c.kinds}
