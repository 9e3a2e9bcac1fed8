"""The edges of `errors` from istio_requests_total in Istio's own exposition shape, and the
rules for absent sources; the counts from real Envoys are in tests/e2e/test_errors.py."""

from __future__ import annotations

from pathlib import Path

from kubectl_meshdebug.envoy.istio_metrics import parse_requests_total
from kubectl_meshdebug.envoy.upstream_counters import HostCount, ProxyCounters
from kubectl_meshdebug.mesh.edges import EdgeMap, ProxyReading
from kubectl_meshdebug.mesh.workload import workload_name

PROM = (Path(__file__).resolve().parents[1] / "data" / "istio_requests_total.prom").read_text()


def _pod(name: str, **meta: object) -> dict:
    return {"metadata": {"name": name, "namespace": "default", **meta}}


def test_istio_series_parse_with_their_labels():
    series = parse_requests_total(PROM)
    assert series is not None and len(series) == 5
    failing = [s for s in series if s.get("response_code") == "503"]
    assert sorted((s.get("destination_service"), s.get("response_flags"), s.value)
                  for s in failing) == [("details.default.svc.cluster.local", "UH", 3),
                                        ("reviews.default.svc.cluster.local", "UC", 7)]
    assert parse_requests_total("# TYPE envoy_x counter\nenvoy_x 1\n") is None  # absent


def test_malformed_series_are_left_out_not_the_metric():
    text = PROM + 'istio_requests_total{reporter="source",response_code="503" 9\n' \
        'istio_requests_total{reporter="source",response_code="503"} NaN\n'
    assert len(parse_requests_total(text) or []) == 5


def test_istio_counts_are_requests_with_codes_and_flags():
    edges = EdgeMap(lambda ip: None)
    counters = ProxyCounters(istio=parse_requests_total(PROM))
    edges.add(ProxyReading("default/productpage-v1-5d9d", _pod(
        "productpage-v1-5d9d", generateName="productpage-v1-", labels={
            "pod-template-hash": "5d9d"}, ownerReferences=[
            {"kind": "ReplicaSet", "name": "productpage-v1-5d9d", "controller": True}]),
        counters))
    ranked = [e.to_dict() for e in edges.ranked()]
    assert [(e["source"], e["destination"], e["requests"], e["failures"]) for e in ranked] == [
        ("default/productpage-v1", "reviews.default.svc.cluster.local", 47, 7),
        ("default/productpage-v1", "details.default.svc.cluster.local", 23, 3)]
    assert ranked[0]["basis"] == "istio_requests_total"
    assert ranked[0]["response_flags"] == {"UC": 7} and ranked[1]["response_flags"] == {"UH": 3}
    assert ranked[0]["counts"]["host_counters"] is None  # not read, not zero
    assert ranked[0]["next"] == ["kubectl", "meshdebug", "why-503", "productpage-v1-5d9d",
                                 "reviews.default", "-n", "default"]


def test_host_counters_join_the_istio_edge_of_the_same_service():
    cluster = "outbound|9080||reviews.default.svc.cluster.local"
    counters = ProxyCounters(
        hosts={cluster: [HostCount("10.0.0.7", 9080, True, {"rq_total": 9, "rq_error": 7})]},
        istio=parse_requests_total(PROM))
    edges = EdgeMap({"10.0.0.7": "default/reviews-v3-abc"}.get)
    edges.add(ProxyReading("default/productpage-v1-5d9d", None, counters))
    top = edges.ranked()[0].to_dict()
    assert top["cluster"] == cluster and top["port"] == 9080
    assert top["counts"]["host_counters"] == {"attempts": 9, "failed": 7}
    assert top["basis"] == "istio_requests_total" and top["failures"] == 7
    assert top["hosts"][0]["pod"] == "default/reviews-v3-abc"
    assert top["next"][2:] == ["why-503", "productpage-v1-5d9d", "reviews.default:9080", "-n",
                               "default"]


def test_window_difference_and_counter_resets():
    cluster = "outbound|80||a.b.svc.cluster.local"
    before = ProxyCounters(hosts={cluster: [HostCount("1.1.1.1", 80, True,
                                                      {"rq_total": 10, "rq_error": 4})]})
    after = ProxyCounters(hosts={cluster: [HostCount("1.1.1.1", 80, True,
                                                     {"rq_total": 15, "rq_error": 6})]})
    assert after.minus(before).hosts[cluster][0].counts == {"rq_total": 5, "rq_error": 2}
    restarted = ProxyCounters(hosts={cluster: [HostCount("1.1.1.1", 80, True,
                                                         {"rq_total": 3, "rq_error": 1})]})
    assert restarted.minus(before).hosts[cluster][0].counts == {"rq_total": 3, "rq_error": 1}


def test_workload_names_as_istio_derives_them():
    rs = _pod("reviews-v1-7d9c8b-x2kq", generateName="reviews-v1-7d9c8b-",
              labels={"pod-template-hash": "7d9c8b"},
              ownerReferences=[{"kind": "ReplicaSet", "name": "reviews-v1-7d9c8b",
                                "controller": True}])
    assert workload_name(rs) == "reviews-v1"
    job = _pod("backup-28391720-abcde", generateName="backup-28391720-",
               ownerReferences=[{"kind": "Job", "name": "backup-28391720", "controller": True}])
    assert workload_name(job) == "backup"
    assert workload_name(_pod("sleep")) == "sleep"
    named = _pod("x-1", labels={"service.istio.io/workload-name": "custom"})
    assert workload_name(named) == "custom"
    sts = _pod("db-0", generateName="db-", ownerReferences=[
        {"kind": "StatefulSet", "name": "db", "controller": True}])
    assert workload_name(sts) == "db"
