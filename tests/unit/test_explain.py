"""`explain ID` prints the finding's page; every `docs:` line of a report names a command
that works."""

from __future__ import annotations

from pathlib import Path

from kubectl_meshdebug.checks.registry import catalogue
from tests.helpers import run

ROOT = Path(__file__).resolve().parents[2]


def test_explain_prints_the_page_of_each_finding():
    for ftype in catalogue().values():
        result = run("explain", ftype.id)
        assert result.code == 0, result.err
        assert result.out == (ROOT / ftype.docs).read_text(), ftype.id


def test_explain_lists_every_finding():
    listed = run("explain", "-o", "json").json()["findings"]
    assert [f["id"] for f in listed] == sorted(catalogue())
    table = run("explain").out.splitlines()
    assert table[0].split() == ["ID", "SEVERITY", "TITLE"] and len(table) == len(listed) + 1


def test_explain_json_carries_the_page():
    doc = run("explain", "subset-no-pods", "-o", "json").json()
    assert doc["severity"] == "error" and doc["page"].startswith("# `subset-no-pods`")


def test_a_name_that_is_no_finding_is_usage_and_reads_no_file(tmp_path):
    for name in ("../../etc/passwd", "subset-no-pod", "Subset-No-Pods", "x" * 500):
        result = run("explain", name)
        assert result.code == 2 and result.err.startswith("error: "), result.err
        assert "root:" not in result.out
    assert "did you mean subset-no-pods" in run("explain", "subset-no-pod").err


def test_report_docs_lines_are_explain_commands():
    doc = run("audit", "-A", "-f", str(ROOT / "tests" / "data" / "istio" / "analyzers"
                                               / "destinationrule-subsets-not-select-pods.yaml"),
              "-o", "json").json()
    assert doc["findings"]
    for finding in doc["findings"]:
        assert finding["explain"] == f"kubectl meshdebug explain {finding['id']}"
        words = finding["explain"].split()[2:]
        assert run(*words).code == 0
