"""errors: the failing-calls map from real Envoys' own counters (the four-services lab).

sleep calls httpbin (3x, ok), reviews (5x, 503 UC: a DestinationRule without tls towards a
STRICT sidecar), ratings (1x, 503 after two retries: the app is not on the targetPort)
and details (2x, ok). Every number the map prints is checked against what the Envoys
count themselves (their /clusters and /stats read directly here).
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from kubectl_meshdebug.lab.scenarios import FOUR_SERVICES_CALLS, LAB_MESHES, SCENARIOS
from kubectl_meshdebug.lab.traffic import http_call
from tests.helpers import admin_get, admin_json, run

pytestmark = pytest.mark.e2e


def _host_counters(mesh: Any, cluster: str) -> dict[str, int]:
    """The client Envoy's own /clusters counters for one cluster, summed over hosts."""
    doc = admin_json(mesh.admin_url(mesh.client), "/clusters?format=json")
    total: dict[str, int] = {}
    for status in doc["cluster_statuses"]:
        if status["name"] == cluster:
            for host in status.get("host_statuses", []):
                for stat in host["stats"]:
                    total[stat["name"]] = total.get(stat["name"], 0) + int(stat.get("value", 0))
    return total


def _cluster_stat(mesh: Any, cluster: str, name: str) -> int:
    text = admin_get(mesh.admin_url(mesh.client), f"/stats?filter={name}$")
    # istiod names a cluster's stats `cluster.NAME;.KEY` (its alt_stat_name)
    values = [int(line.rpartition(": ")[2]) for line in text.decode().splitlines()
              if line.startswith((f"cluster.{cluster}.{name}:", f"cluster.{cluster};.{name}:"))]
    return sum(values)


def _start(cluster_stats: bool = False) -> tuple[Any, Any]:
    scenario = SCENARIOS["four-services"]
    mesh = LAB_MESHES["four-services-cluster-stats"]() if cluster_stats else scenario.build()
    mesh.start()
    mesh.write_manifests()
    scenario.run_traffic(mesh)
    return scenario, mesh


@pytest.fixture(scope="module")
def default_install():
    """Istio's default stats inclusion list: no per-cluster upstream_rq_* stats."""
    scenario, mesh = _start()
    yield mesh
    mesh.stop()


@pytest.fixture(scope="module")
def with_cluster_stats():
    """A pod whose stats inclusion list keeps cluster.outbound|* stats."""
    scenario, mesh = _start(cluster_stats=True)
    yield mesh
    mesh.stop()


def _base(mesh: Any) -> list[str]:
    return ["errors", "-A", "-f", str(mesh.workdir / "manifests.yaml"), *mesh.admin_url_args()]


REVIEWS = "outbound|9080||reviews.foo.svc.cluster.local"
RATINGS = "outbound|9080||ratings.foo.svc.cluster.local"


def test_two_failing_edges_first_with_the_envoys_counts(default_install):
    mesh = default_install
    result = run(*_base(mesh), "-o", "json")
    assert result.code == 1, result.err
    doc = result.json()
    items = doc["items"]
    assert [(i["source"], i["cluster"]) for i in items] == [("foo/sleep", REVIEWS),
                                                           ("foo/sleep", RATINGS)]
    for item in items:
        own = _host_counters(mesh, item["cluster"])
        assert item["basis"] == "host_counters"
        assert item["failures"] == own["rq_error"] + own.get("rq_timeout", 0) > 0
        assert item["requests"] == own["rq_total"]
        assert item["counts"]["cluster_stats"] is None  # absent, not zero
        assert item["counts"]["istio_requests_total"] is None
    reviews, ratings = items
    assert reviews["failures"] == FOUR_SERVICES_CALLS["reviews.foo:9080"]  # no retries for UC
    assert ratings["failures"] == 3  # one call, two retries: three attempts failed
    assert [h["pod"] for h in reviews["hosts"]] == ["foo/reviews-v1"]
    assert reviews["next"] == ["kubectl", "meshdebug", "why-503", "sleep", "reviews.foo:9080",
                               "-n", "foo"]
    assert doc["proxies"] == {"read": 5, "failed": [], "with_cluster_stats": 0,
                              "with_istio_requests_total": 0}


def test_healthy_edges_show_no_failures(default_install):
    doc = run(*_base(default_install), "--all", "-o", "json").json()
    healthy = {i["destination"]: i for i in doc["items"] if not i["failures"]}
    assert set(healthy) == {"httpbin.foo.svc.cluster.local", "details.foo.svc.cluster.local"}
    assert healthy["httpbin.foo.svc.cluster.local"]["requests"] == 3
    assert healthy["details.foo.svc.cluster.local"]["requests"] == 2
    assert all(i["failures"] == 0 and i["failure_ratio"] == 0 for i in healthy.values())
    assert [i["failures"] > 0 for i in doc["items"]] == [True, True, False, False]


def test_table_and_next_command_lead_to_the_cause(default_install):
    mesh = default_install
    result = run(*_base(mesh))
    lines = result.out.splitlines()
    assert lines[0].split() == ["SOURCE", "DESTINATION", "CALLS", "FAILED", "ATTEMPTS",
                                "RATIO", "CODES/FLAGS", "FAILING", "PODS"]
    # a default install without logs: calls unknown, only the tries that reached a host
    assert lines[1].split()[:6] == ["foo/sleep", "reviews.foo:9080", "-", "-", "5/5", "100%"]
    assert max(len(line) for line in lines) <= 100  # fits a terminal
    assert "next: kubectl meshdebug why-503 sleep reviews.foo:9080 -n foo" in lines
    assert "without per-cluster stats" in result.err
    # the command it prints, run offline on the same lab, names the cause
    scenario = SCENARIOS["four-services"]
    why = run(*scenario.why503_args(mesh, logs=False), "-o", "json").json()
    assert why["findings"][0]["id"] == "dr-tls-overrides-mtls"


def test_logs_add_flags_and_details(default_install):
    mesh = default_install
    doc = run(*_base(mesh), "--log-file", f"foo/sleep={mesh.client_log()}", "-o", "json").json()
    reviews = doc["items"][0]
    assert reviews["response_flags"] == {"UC": 5}
    assert reviews["response_codes"] == {"503": 5}
    assert any("connection_termination" in d for d in reviews["details"])
    assert "UF" in doc["items"][1]["response_flags"] or "URX" in doc["items"][1]["response_flags"]
    # ratings: one call, retried: 3 failed attempts, 1 failed call (an issue found the
    # attempts reported as requests)
    ratings = doc["items"][1]
    assert (ratings["calls"], ratings["failed_calls"]) == (1, 1)
    assert (ratings["attempts"], ratings["failed_attempts"]) == (3, 3)
    table = run(*_base(mesh), "--log-file", f"foo/sleep={mesh.client_log()}").out.splitlines()
    assert table[2].split()[:5] == ["foo/sleep", "ratings.foo:9080", "1", "1", "3/3"]


def test_next_commands_take_the_same_log_files(default_install):
    """Every `next` of errors, rerun with the flags errors was given (logs of pods off the
    call's path included), runs: a file for another pod is set aside with a note."""
    mesh = default_install
    logs = ["--log-file", f"foo/sleep={mesh.client_log()}",
            "--log-file", f"ratings-v1={mesh.envoys['ratings-v1'].log_path}"]
    doc = run(*_base(mesh), *logs, "-o", "json").json()
    base = _base(mesh)[2:]  # -f and --admin-url
    failing = [i for i in doc["items"] if i["failures"]]
    assert len(failing) == 2
    for item in failing:
        argv = item["next"]
        assert argv[:3] == ["kubectl", "meshdebug", "why-503"], argv
        result = run(*argv[2:], *base, *logs)
        assert result.code == 1 and "error:" not in result.err, (argv, result.err)
        off_path = "ratings" not in argv[4]
        assert ("--log-file ratings-v1=...: not a pod on this call's path" in result.err) \
            == off_path, result.err


def test_per_cluster_stats_count_requests_the_caller_saw(with_cluster_stats):
    mesh = with_cluster_stats
    doc = run(*_base(mesh), "--all", "-o", "json").json()
    by_cluster = {i["cluster"]: i for i in doc["items"]}
    for cluster, item in by_cluster.items():
        assert item["basis"] == "cluster_stats"
        assert item["requests"] == _cluster_stat(mesh, cluster, "upstream_rq_completed")
        assert item["failures"] == _cluster_stat(mesh, cluster, "upstream_rq_5xx")
    assert by_cluster[REVIEWS]["failures"] == 5
    assert by_cluster[RATINGS]["failures"] == 1  # one call, whatever the retries
    assert by_cluster[RATINGS]["counts"]["host_counters"]["failed"] == 3
    assert doc["proxies"]["with_cluster_stats"] >= 1


def test_window_counts_only_what_failed_in_it(default_install):
    mesh = default_install
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubectl_meshdebug", *_base(mesh), "--window", "3s", "-o",
         "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        waited = time.monotonic()
        line = proc.stderr.readline()  # printed once the first sample is taken
        assert "sampling again" in line, line
        assert time.monotonic() - waited < 60
        for _ in range(2):
            http_call(mesh.client_target("reviews.foo", 9080), "reviews.foo:9080")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    doc = __import__("json").loads(out)
    assert doc["window"] == "3s" and doc["counted"] == "in 3s"
    assert [(i["cluster"], i["failures"]) for i in doc["items"]] == [(REVIEWS, 2)], err


def test_graphs_mark_the_failing_edges(default_install):
    mesh = default_install
    dot = run(*_base(mesh), "--all", "-o", "dot").out
    assert dot.startswith("digraph") and dot.count("->") == 4
    assert dot.count("penwidth=2") == 2 and dot.count("color=darkgreen") == 2
    mermaid = run(*_base(mesh), "--all", "-o", "mermaid").out
    assert mermaid.startswith("flowchart LR")
    assert "linkStyle 0,1 stroke:#c62828" in mermaid


def test_one_unreachable_sidecar_is_a_row_not_the_end(default_install):
    mesh = default_install
    args = _base(mesh)
    i = args.index("foo/details-v1=" + mesh.admin_url(next(
        p for p in mesh.pods if p.name == "details-v1")))
    args[i] = "foo/details-v1=http://127.0.0.1:9"  # nothing listens on the discard port
    result = run(*args, "-o", "json")
    doc = result.json()
    assert result.code == 1  # failing edges found among what could be read
    assert doc["proxies"]["read"] == 4
    assert [f["pod"] for f in doc["proxies"]["failed"]] == ["foo/details-v1"]
    assert [i["cluster"] for i in doc["items"]] == [REVIEWS, RATINGS]


def test_the_lab_renders_the_destination_rules_connection_pool(default_install):
    """reviews' DestinationRule sets maxConnections: 100; the lab's Envoy has it, as
    istiod renders it (an issue found it shown as no limit)."""
    mesh = default_install
    result = run("clusters", "sleep", "-n", "foo", "-f", str(mesh.workdir / "manifests.yaml"),
                 *mesh.admin_url_args(), "--fqdn", "reviews.foo.svc.cluster.local", "-o", "json")
    [reviews] = [c for c in result.json()["items"] if c["name"] == REVIEWS]
    assert reviews["circuit_breakers"]["max_connections"] == 100
    assert reviews["circuit_breakers"]["max_pending_requests"] == 4294967295
