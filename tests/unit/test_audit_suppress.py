"""audit for CI pipelines: known findings suppressed by flag or annotation, as istioctl
analyze does, and the exit code following --failure-threshold."""

from __future__ import annotations

import copy

import yaml

from tests.helpers import DATA, run

CASE = DATA / "istio" / "analyzers" / "destinationrule-subsets-not-select-pods.yaml"


def _ids(result) -> list[tuple[str, str]]:
    return [(f["id"], f["resource"]) for f in result.json()["findings"]]


def test_suppress_by_id_by_istio_code_and_by_object():
    base = run("audit", "-A", "-f", str(CASE), "-o", "json")
    found = [r for i, r in _ids(base) if i == "subset-no-pods"]
    assert base.code == 1 and found, _ids(base)
    kind, _, ns_name = found[0].partition(" ")
    namespace, _, name = ns_name.partition("/")
    for spec in ("subset-no-pods", "IST0173", "IST017*",
                 f"IST0173={kind} {namespace}/{name}", f"subset-no-pods={kind} {name}.{namespace}",
                 "*=DestinationRule *"):
        result = run("audit", "-A", "-f", str(CASE), "-o", "json", "--suppress", spec)
        assert all(r != found[0] or i != "subset-no-pods" for i, r in _ids(result)), spec
        assert result.json()["suppressed"] >= 1, spec
    other = run("audit", "-A", "-f", str(CASE), "-o", "json", "--suppress",
                f"IST0173={kind} {namespace}/not-{name}")
    assert other.json()["findings"] == base.json()["findings"]


def test_suppress_by_annotation(tmp_path):
    docs = [d for d in yaml.safe_load_all(CASE.read_text()) if d]
    for d in docs:
        if d.get("kind") == "DestinationRule":
            d = d.setdefault("metadata", {}).setdefault("annotations", {})
            d["galley.istio.io/analyze-suppress"] = "IST0173,IST0999"
    path = tmp_path / "annotated.yaml"
    path.write_text(yaml.safe_dump_all(copy.deepcopy(docs)))
    result = run("audit", "-A", "-f", str(path), "-o", "json")
    assert "subset-no-pods" not in [i for i, _ in _ids(result)]
    assert "suppressed (--suppress or the analyze-suppress annotation)" in result.err


def test_failure_threshold_decides_the_exit_code(tmp_path):
    """A port name Istio cannot read is an info finding (IST0118): exit 0 by default, 1
    when the pipeline asks to fail on info."""
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "foo"},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "web", "port": 80}]}}
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump(svc))
    default = run("audit", "-A", "-f", str(path), "-o", "json")
    assert [f["severity"] for f in default.json()["findings"]] == ["info"], default.out
    assert default.code == 0
    assert run("audit", "-A", "-f", str(path), "--failure-threshold", "warning").code == 0
    assert run("audit", "-A", "-f", str(path), "--failure-threshold", "info").code == 1


def test_a_malformed_suppression_is_usage():
    for spec in ("=DestinationRule x", "IST0173=DestinationRule", "x" * 600):
        result = run("audit", "-A", "-f", str(CASE), "--suppress", spec)
        assert result.code == 2 and result.err.startswith("error: --suppress"), result.err
