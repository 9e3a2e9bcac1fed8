"""istiod's side of sync: /debug/syncz as istiod writes it (shape from the real istiod of
the cluster tests), and the diff of what istiod would send against what a proxy holds."""

from __future__ import annotations

from kubectl_meshdebug.mesh.xds_diff import diff_dumps, folded
from kubectl_meshdebug.mesh.xds_status import parse_syncz, version_of

CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
NONCE = "2026-12-03T10:46:10Z/4890cdd69-c803-4302-9659-e9afbcee5b35"


def entry(**fields):
    base = {"cluster_id": "Kubernetes", "proxy": "sleep.foo", "istio_version": "1.31-alpha.x"}
    return {**base, **fields}


def test_statuses_as_istioctl_words_them():
    syncz = [entry(cluster_sent=NONCE, cluster_acked=NONCE, listener_sent=NONCE,
                   route_sent=NONCE, route_acked="older",
                   resources={CDS: {"sent": NONCE, "acked": NONCE}})]
    push = parse_syncz(syncz)["sleep.foo"]
    assert {t: s.status for t, s in push.types.items()} == {
        "cds": "SYNCED", "lds": "STALE", "eds": "NOT SENT", "rds": "STALE"}
    assert push.verdict == "STALE"
    assert push.types["cds"].sent_version == "2026-12-03T10:46:10Z/4"


def test_a_rejected_push_is_a_nack_with_istiods_reason():
    syncz = [entry(cluster_sent=NONCE, listener_sent=NONCE, listener_acked=NONCE,
                   resources={CDS: {"sent": NONCE, "lastError":
                                    "Invalid duration: Expected positive duration\nseconds: -1"}})]
    push = parse_syncz(syncz)["sleep.foo"]
    assert push.types["cds"].status == "NACK"
    assert push.types["cds"].error == "Invalid duration: Expected positive duration"
    assert push.verdict == "NACK"


def test_hostile_answers_are_left_out():
    assert parse_syncz({"proxy": "x"}) == {}
    assert parse_syncz([1, None, {"proxy": 5}, {"proxy": "a.b", "cluster_sent": ["x"]}]) == {
        "a.b": parse_syncz([{"proxy": "a.b"}])["a.b"]}
    long = parse_syncz([entry(cluster_sent="v" * 10_000)])["sleep.foo"]
    assert len(long.types["cds"].sent_version) <= 300


def test_version_of_keeps_a_nonce_that_is_not_istios():
    assert version_of("abc") == "abc"
    assert version_of(NONCE) == "2026-12-03T10:46:10Z/4"


def dump(clusters=(), listeners=(), camel=False):
    if camel:
        return {"configs": [
            {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
             "dynamicActiveClusters": [{"versionInfo": "1", "cluster": c} for c in clusters]},
            {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
             "dynamicListeners": [{"name": n["name"], "activeState": {"listener": n}}
                                  for n in listeners]}]}
    return {"configs": [
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
         "dynamic_active_clusters": [{"version_info": "2", "last_updated": "t",
                                      "cluster": c} for c in clusters]},
        {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
         "dynamic_listeners": [{"name": n["name"], "active_state": {"listener": n}}
                               for n in listeners]}]}


def test_diff_folds_istiods_camel_case_and_skips_bookkeeping():
    hcm = {"name": "0.0.0.0_8000", "filterChains": [{"filters": [{"typedConfig": {
        "proxy100Continue": True}}]}]}
    held = {"name": "0.0.0.0_8000", "filter_chains": [{"filters": [{"typed_config": {
        "proxy_100_continue": True}}]}]}
    want = dump([{"name": "a", "connectTimeout": "10s"}], [hcm], camel=True)
    have = dump([{"name": "a", "connect_timeout": "10s"}], [held])
    assert diff_dumps(want, have) == []
    assert folded("proxy100Continue") == folded("proxy_100_continue")


def test_diff_names_what_is_missing_extra_or_changed():
    want = dump([{"name": "a"}, {"name": "b", "lb_policy": "RANDOM"}])
    have = dump([{"name": "b"}, {"name": "c"}])
    assert diff_dumps(want, have) == [
        {"type": "cds", "name": "a", "change": "not on the proxy"},
        {"type": "cds", "name": "b", "change": "differs"},
        {"type": "cds", "name": "c", "change": "only on the proxy"}]
    assert diff_dumps([1], "x") == []


def test_diff_without_istiod_is_one_line_and_exit_3():
    from tests.helpers import run

    result = run("sync", "x", "--admin-url", "foo/x=http://127.0.0.1:1", "--diff")
    assert result.code == 3
    assert result.err.strip().splitlines() == [
        "error: --diff needs istiod: offline (-f or --admin-url): istiod was not asked"]


def test_diff_of_two_pods_is_a_usage_error():
    from tests.helpers import run

    result = run("sync", "x", "y", "--admin-url", "foo/x=http://127.0.0.1:1",
                 "--admin-url", "foo/y=http://127.0.0.1:2", "--diff")
    assert result.code == 2
    assert result.err.strip().splitlines() == ["error: --diff compares one proxy: name one pod"]
