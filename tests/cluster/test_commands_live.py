"""Every cluster-facing command through a real API server: the proxy-config commands by exec
(pilot-agent, then curl when the image lacks it) and by port-forward, agreeing with the
lab Envoys' own admin API; loglevel, stats, capture, logs, sync, describe and audit."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from tests.cluster.conftest import kubectl
from tests.helpers import admin_json, loggers

SCENARIO = "healthy"


def meshdebug(cp, *args, user="admin"):
    return kubectl(cp, "meshdebug", *args, user=user)


def new_execs(cp, before):
    return cp.execs()[before:]


@pytest.mark.parametrize("transport", ["exec", "port-forward"])
def test_clusters_agree_with_envoy(loaded, control_plane, transport):
    before = len(control_plane.execs())
    result = meshdebug(control_plane, "clusters", "sleep", "-n", "foo", "-o", "json",
                       "--transport", transport)
    assert result.code == 0, result.err
    # the config dump's cluster fragments and /clusters for health: one round trip
    assert len(new_execs(control_plane, before)) == (1 if transport == "exec" else 0)
    ours = {i["name"] for i in result.json()["items"]}
    envoy = admin_json(loaded.admin_url(loaded.client), "/clusters?format=json")
    assert ours == {c["name"] for c in envoy["cluster_statuses"]}
    httpbin = next(i for i in result.json()["items"] if i.get("service") == "foo/httpbin")
    assert httpbin["total_endpoints"] == 1


def test_exec_runs_in_the_proxy_container_one_round_trip_per_command(loaded, control_plane):
    """routes needs four config_dump fragments: one exec (curl fetching them in turn),
    not four streams through the API server and the kubelet."""
    before = len(control_plane.execs())
    result = meshdebug(control_plane, "routes", "sleep", "-n", "foo", "-o", "json")
    assert result.code == 0, result.err
    [call] = new_execs(control_plane, before)
    assert call["container"] == "istio-proxy" and call["pod"] == "sleep"
    assert call["command"][0] == "curl"
    assert [a.split("?")[1] for a in call["command"] if a.startswith("http://")] == [
        "resource=static_route_configs", "resource=dynamic_route_configs",
        "resource=static_listeners", "resource=dynamic_listeners"]
    vhosts = {i["virtual_host"] for i in result.json()["items"]}
    assert "httpbin.foo.svc.cluster.local:8000" in vhosts


def test_one_call_goes_through_pilot_agent(loaded, control_plane):
    before = len(control_plane.execs())
    result = meshdebug(control_plane, "loglevel", "sleep", "-n", "foo", "-o", "json")
    assert result.code == 0, result.err
    [call] = new_execs(control_plane, before)
    assert call["command"] == ["pilot-agent", "request", "POST", "logging"]


def test_without_curl_the_calls_go_one_by_one_through_pilot_agent(loaded, lab_cluster,
                                                                   control_plane):
    lab_cluster.set_programs("foo", "sleep", "pilot-agent")
    try:
        before = len(control_plane.execs())
        result = meshdebug(control_plane, "routes", "sleep", "-n", "foo", "-o", "json")
        assert result.code == 0, result.err
        programs = [e["command"][0] for e in new_execs(control_plane, before)]
        assert programs == ["curl"] + ["pilot-agent"] * 4
        assert "httpbin.foo.svc.cluster.local:8000" in {
            i["virtual_host"] for i in result.json()["items"]}
    finally:
        lab_cluster.set_programs("foo", "sleep", None)


@pytest.mark.parametrize("command", ["listeners", "endpoints"])
def test_listeners_and_endpoints(loaded, control_plane, command):
    result = meshdebug(control_plane, command, "httpbin-v1", "-n", "foo", "-o", "json")
    assert result.code == 0, result.err
    assert result.json()["items"]


def test_config_dump_through_exec_is_whole(loaded, control_plane, tmp_path):
    saved = tmp_path / "dump.json"
    result = meshdebug(control_plane, "config-dump", "sleep", "-n", "foo", "--save", saved)
    assert result.code == 0, result.err
    ours = json.loads(saved.read_text())
    envoy = admin_json(loaded.admin_url(loaded.client), "/config_dump?include_eds")
    assert [c["@type"] for c in ours["configs"]] == [c["@type"] for c in envoy["configs"]]
    assert len(saved.read_bytes()) > 32 * 1024  # more than one websocket frame


def test_curl_when_the_image_has_no_pilot_agent(loaded, lab_cluster, control_plane):
    lab_cluster.set_programs("foo", "httpbin-v1", "curl")
    try:
        before = len(control_plane.execs())
        result = meshdebug(control_plane, "loglevel", "httpbin-v1", "-n", "foo", "-o", "json")
        assert result.code == 0, result.err
        assert result.json()["items"][0]["loggers"]["router"] == "warning"
        programs = [e["command"][0] for e in new_execs(control_plane, before)]
        assert programs[:2] == ["pilot-agent", "curl"]
        lab_cluster.set_programs("foo", "httpbin-v1", "")
        result = meshdebug(control_plane, "loglevel", "httpbin-v1", "-n", "foo")
        assert result.code == 3
        assert result.err.strip().splitlines() == [
            "error: neither pilot-agent nor curl exists in container istio-proxy of "
            "foo/httpbin-v1; use --transport port-forward, or --admin-url with your own "
            "kubectl port-forward"]
        result = meshdebug(control_plane, "loglevel", "httpbin-v1", "-n", "foo",
                           "--transport", "port-forward")
        assert result.code == 0, result.err
    finally:
        lab_cluster.set_programs("foo", "httpbin-v1", None)


def test_loglevel_by_selector_and_reset(loaded, control_plane):
    result = meshdebug(control_plane, "loglevel", "-l", "app=httpbin", "-n", "foo",
                       "router:debug")
    assert result.code == 0, result.err
    server = next(p for p in loaded.pods if p.name == "httpbin-v1")
    assert loggers(loaded.admin_url(server))["router"] == "debug"
    assert loggers(loaded.admin_url(loaded.client))["router"] == "warning"
    result = meshdebug(control_plane, "loglevel", "-l", "app=httpbin", "-n", "foo", "--reset")
    assert result.code == 0, result.err
    assert loggers(loaded.admin_url(server))["router"] == "warning"


def test_stats_regex_metacharacters_stay_inside_the_filter(loaded, control_plane):
    before = len(control_plane.execs())
    result = meshdebug(control_plane, "stats", "sleep", "-n", "foo", "--filter",
                       "a&usedonly=1|server.live")
    assert result.code == 0, result.err
    assert "server.live" in result.out
    [call] = new_execs(control_plane, before)
    assert call["command"] == ["pilot-agent", "request", "GET",
                               "stats?filter=a%26usedonly%3D1%7Cserver.live"]


@pytest.mark.parametrize("name", ["..", "a/../b", "x;ls", "pod$(id)", "UPPER"])
def test_names_that_are_not_kubernetes_names_never_reach_a_path(loaded, control_plane, name):
    before = len(control_plane.execs())
    result = meshdebug(control_plane, "loglevel", name, "-n", "foo", "trace")
    assert result.code == 2, result.err
    assert new_execs(control_plane, before) == []


def test_capture_restores_levels_read_back_through_exec(loaded, control_plane):
    result = meshdebug(control_plane, "capture", "sleep", "-n", "foo", "--for", "2s")
    assert result.code == 0, result.err
    assert "restored" in result.err
    levels = meshdebug(control_plane, "loglevel", "sleep", "-n", "foo", "-o", "json")
    assert set(levels.json()["items"][0]["loggers"].values()) == {"warning"} | (
        {"error"} if "misc" in levels.json()["items"][0]["loggers"] else set())


def test_capture_restores_when_the_log_stream_ends(loaded, control_plane):
    """The container's log goes away mid-capture (the kubelet ends the stream): levels
    are put back through exec all the same."""
    log = loaded.client_log()
    moved = log.with_suffix(".moved")
    url = loaded.admin_url(loaded.client)
    before = loggers(url)

    def pull_the_log() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and loggers(url).get("router") != "trace":
            time.sleep(0.1)
        os.replace(log, moved)

    mover = threading.Thread(target=pull_the_log)
    mover.start()
    try:
        result = meshdebug(control_plane, "capture", "sleep", "-n", "foo", "--for", "30s")
    finally:
        mover.join()
        os.replace(moved, log)
    assert "the log stream ended" in result.err and "restored" in result.err, result.err
    assert result.seconds < 25
    assert loggers(url) == before


def test_logs_explain_through_pods_log(loaded, control_plane):
    result = meshdebug(control_plane, "logs", "sleep", "-n", "foo", "--explain", "-o", "json")
    assert result.code == 0, result.err
    items = [i for i in result.json()["items"] if i["parsed"]]
    assert items and items[-1]["status"] == 200


def test_sync_all_namespaces(loaded, control_plane):
    result = meshdebug(control_plane, "sync", "-A", "-o", "json")
    doc = result.json()
    pods = {i["pod"]: i["verdict"] for i in doc["items"]}
    # these loopback Envoys take their config from files, not from istiod: alone, the
    # proxy side says they accepted it; where the real mesh's istiod runs, it rightly says
    # it has no stream from them
    istiod_read = doc["istiod"].startswith("istio-system/")
    word = "NOT CONNECTED" if istiod_read else "ACCEPTED"
    assert pods == {"foo/sleep": word, "foo/httpbin-v1": word}, doc["istiod"]
    assert result.code == (1 if istiod_read else 0), result.err


def test_audit_all_namespaces_reads_the_crds(loaded, control_plane):
    result = meshdebug(control_plane, "audit", "-A", "-o", "json")
    assert result.code == 0, result.err
    assert "subset-no-pods" in result.json()["checked"]
    assert "not installed" not in result.err


def test_describe_live(loaded, control_plane):
    result = meshdebug(control_plane, "describe", "deploy/nothing", "-n", "foo")
    assert result.code == 2 and "not found" in result.err
    result = meshdebug(control_plane, "describe", "httpbin-v1", "-n", "foo", "-o", "json")
    assert result.code == 0, result.err
    assert result.json()["services"][0]["ports"][0]["mtls_mode"] == "STRICT"


def test_pod_not_running_is_one_line(loaded, lab_cluster, control_plane):
    lab_cluster.api.patch_status("Pod", "foo", "httpbin-v1", {"phase": "Pending"})
    try:
        result = meshdebug(control_plane, "clusters", "httpbin-v1", "-n", "foo")
        assert result.code == 3
        assert result.err.strip() == ("error: pod foo/httpbin-v1 is Pending; see: kubectl "
                                      "describe pod httpbin-v1 -n foo")
    finally:
        lab_cluster.api.patch_status("Pod", "foo", "httpbin-v1", {"phase": "Running"})


def test_pod_without_sidecar_names_the_namespace_labels(loaded, lab_cluster, control_plane):
    lab_cluster.api.create({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "legacy", "namespace": "foo"},
        "spec": {"nodeName": "mesh-node", "containers": [{"name": "app", "image": "x"}]}})
    try:
        result = meshdebug(control_plane, "stats", "legacy", "-n", "foo")
        assert result.code == 2
        assert "has no istio-proxy container (namespace foo has istio-injection=enabled" \
            in result.err
    finally:
        lab_cluster.api.delete("Pod", "foo", "legacy")
