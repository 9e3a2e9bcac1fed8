"""The proxy commands end to end against real Envoy sidecars on loopback (--admin-url)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.conftest import lab_args, send
from tests.helpers import admin_get, admin_json, loggers, run

pytestmark = pytest.mark.e2e


def test_loglevel_lists_what_envoy_reports(healthy_lab):
    url = healthy_lab.admin_url(healthy_lab.client)
    result = run(*lab_args(healthy_lab), "loglevel", "sleep", "-o", "json")
    assert result.code == 0, result.err
    assert result.json()["items"][0]["loggers"] == loggers(url)


def test_loglevel_sets_all_then_resets_to_istio_defaults(healthy_lab):
    url = healthy_lab.admin_url(healthy_lab.client)
    result = run("--admin-url", f"default/sleep={url}", "loglevel", "sleep", "trace")
    assert result.code == 0, result.err
    assert set(loggers(url).values()) == {"trace"}
    assert "loggers set to trace" in result.out
    result = run("--admin-url", f"default/sleep={url}", "loglevel", "sleep", "--reset")
    assert result.code == 0, result.err
    after = loggers(url)
    assert after["misc"] == "error"
    assert {v for k, v in after.items() if k != "misc"} == {"warning"}


def test_loglevel_paths_change_only_those_loggers(healthy_lab):
    url = healthy_lab.admin_url(healthy_lab.client)
    before = loggers(url)
    result = run(*lab_args(healthy_lab), "loglevel", "sleep", "router:debug,connection:trace")
    assert result.code == 0, result.err
    after = loggers(url)
    assert after["router"] == "debug" and after["connection"] == "trace"
    assert {k for k in after if after[k] != before[k]} <= {"router", "connection"}
    run(*lab_args(healthy_lab), "loglevel", "sleep", "--reset")


def test_loglevel_unknown_logger_changes_nothing(healthy_lab):
    url = healthy_lab.admin_url(healthy_lab.client)
    before = loggers(url)
    result = run(*lab_args(healthy_lab), "loglevel", "sleep", "router:debug,routr:trace")
    assert result.code == 2
    assert "unknown logger 'routr'" in result.err and "router" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert loggers(url) == before


def test_loglevel_bad_level_is_usage_error(healthy_lab):
    result = run(*lab_args(healthy_lab), "loglevel", "sleep", "verbose")
    assert result.code == 2 and "unknown log level" in result.err


def test_loglevel_selector_acts_on_every_matching_pod(healthy_lab):
    result = run(*lab_args(healthy_lab), "loglevel", "-l", "app", "debug")
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["foo/httpbin-v1", "foo/sleep"]
    for pod in (healthy_lab.client, healthy_lab.services[0].pods[0]):
        assert set(loggers(healthy_lab.admin_url(pod)).values()) == {"debug"}
    run(*lab_args(healthy_lab), "loglevel", "-l", "app", "--reset")


def test_stats_filter_agrees_with_envoy(healthy_lab):
    url = healthy_lab.admin_url(healthy_lab.client)
    result = run(*lab_args(healthy_lab), "stats", "sleep", "--filter", "^cluster_manager",
                 "-o", "json")
    assert result.code == 0, result.err
    ours = {i["name"]: i["value"] for i in result.json()["items"] if isinstance(i["value"], int)}
    theirs = {s["name"]: s.get("value") for s in admin_json(
        url, "/stats?format=json&filter=%5Ecluster_manager")["stats"] if "value" in s}
    assert ours and {k: ours[k] for k in theirs if isinstance(theirs[k], int)} == {
        k: v for k, v in theirs.items() if isinstance(v, int)}


def test_stats_service_filter_and_absent_versus_zero(healthy_lab):
    status, _, _ = send(healthy_lab, "httpbin.foo:8000")
    assert status == 200
    result = run(*lab_args(healthy_lab), "stats", "sleep", "--service", "httpbin:8000",
                 "--nonzero", "-o", "json")
    assert result.code == 0, result.err
    names = [i["name"] for i in result.json()["items"]]
    assert "cluster.outbound|8000||httpbin.foo.svc.cluster.local;.upstream_rq_200" in names
    assert all(n.startswith("cluster.outbound|8000||httpbin.foo.svc.cluster.local;.")
               for n in names)
    # the server sidecar keeps Istio's default inclusion list: no per-cluster stats at all
    result = run(*lab_args(healthy_lab), "stats", "httpbin-v1", "--service", "httpbin")
    assert result.code == 0
    assert "absent is not zero" in result.err


def test_stats_bad_regex_is_rejected_before_calling_envoy(healthy_lab):
    result = run(*lab_args(healthy_lab), "stats", "sleep", "--filter", "upstream_rq_(")
    assert result.code == 2 and "not a valid regular expression" in result.err


def test_stats_prometheus_is_envoys_own(healthy_lab):
    result = run(*lab_args(healthy_lab), "stats", "sleep", "--filter", "^server.live$",
                 "-o", "prometheus")
    assert result.code == 0
    assert "envoy_server_live{} 1" in result.out


def test_stats_delta_shows_traffic_and_rate(healthy_lab):
    def traffic() -> None:
        time.sleep(0.3)
        for _ in range(5):
            send(healthy_lab, "httpbin.foo:8000")

    thread = threading.Thread(target=traffic)
    thread.start()
    result = run(*lab_args(healthy_lab), "stats", "sleep", "--service", "httpbin",
                 "--delta", "1.5", "-o", "json")
    thread.join()
    assert result.code == 0, result.err
    rows = {r["name"]: r for r in result.json()["items"]}
    total = rows["cluster.outbound|8000||httpbin.foo.svc.cluster.local;.upstream_rq_total"]
    assert total["delta"] == 5 and total["per_second"] > 0


def test_clusters_json_agrees_with_config_dump_and_clusters(healthy_lab):
    url = healthy_lab.admin_url(healthy_lab.client)
    result = run(*lab_args(healthy_lab), "clusters", "sleep", "-o", "json")
    assert result.code == 0, result.err
    items = {i["name"]: i for i in result.json()["items"]}
    dump = admin_json(url, "/config_dump")
    names = {c["cluster"]["name"] for section in dump["configs"]
             for key in ("static_clusters", "dynamic_active_clusters")
             for c in section.get(key, [])}
    assert set(items) == names
    live = {c["name"]: c for c in admin_json(url, "/clusters?format=json")["cluster_statuses"]}
    httpbin = items["outbound|8000||httpbin.foo.svc.cluster.local"]
    assert httpbin["total_endpoints"] == len(live[httpbin["name"]]["host_statuses"]) == 1
    assert (httpbin["direction"], httpbin["port"], httpbin["fqdn"]) == (
        "outbound", 8000, "httpbin.foo.svc.cluster.local")
    assert httpbin["tls"] == "auto" and httpbin["expected_tls"] == "auto"
    assert httpbin["service"] == "foo/httpbin" and httpbin["subset_pods"] == 1


def test_clusters_filters(healthy_lab):
    result = run(*lab_args(healthy_lab), "clusters", "sleep", "--direction", "outbound",
                 "--port", "8000", "-o", "json")
    assert [i["name"] for i in result.json()["items"]] == [
        "outbound|8000||httpbin.foo.svc.cluster.local"]
    result = run(*lab_args(healthy_lab), "clusters", "sleep", "--fqdn", "nosuch")
    assert result.code == 0 and "No resources found" in result.err


def test_routes_json_agrees_with_route_config(healthy_lab):
    url = healthy_lab.admin_url(healthy_lab.client)
    result = run(*lab_args(healthy_lab), "routes", "sleep", "--name", "8000", "-o", "json")
    assert result.code == 0, result.err
    dump = admin_json(url, "/config_dump?resource=dynamic_route_configs")
    [config] = [c["route_config"] for c in dump["configs"] if c["route_config"]["name"] == "8000"]
    vhosts = config["virtual_hosts"]
    assert [i["virtual_host"] for i in result.json()["items"]] == [v["name"] for v in vhosts]
    assert result.json()["items"][0]["domains"] == vhosts[0]["domains"]
    result = run(*lab_args(healthy_lab), "routes", "sleep", "--name", "8000", "--domain",
                 "httpbin.foo:8000", "-o", "json")
    assert [i["virtual_host"] for i in result.json()["items"]] == [
        "httpbin.foo.svc.cluster.local:8000", "allow_any"]


def test_listeners_show_inbound_mtls(healthy_lab):
    result = run(*lab_args(healthy_lab), "listeners", "httpbin-v1", "--port", "8080", "-o",
                 "json")
    assert result.code == 0, result.err
    [inbound] = result.json()["items"]  # STRICT: the port's only chain is mTLS
    assert inbound["name"] == "virtualInbound" and inbound["client_cert_required"] is True
    result = run(*lab_args(healthy_lab), "listeners", "sleep", "--port", "8000", "--type", "http")
    assert "0.0.0.0_8000" in result.out and "Route: 8000" in result.out


def test_endpoints_show_pod_and_health(healthy_lab):
    result = run(*lab_args(healthy_lab), "endpoints", "sleep", "--cluster", "httpbin",
                 "-o", "json")
    assert result.code == 0, result.err
    [ep] = result.json()["items"]
    assert ep["pod"] == "foo/httpbin-v1" and ep["status"] == "HEALTHY"
    assert ep["endpoint"] == f"{healthy_lab.services[0].pods[0].ip}:8080"


def test_config_dump_save_jsonpath_and_read_back(healthy_lab, tmp_path):
    saved = tmp_path / "sleep.json"
    result = run(*lab_args(healthy_lab), "config-dump", "sleep", "--save", saved)
    assert result.code == 0, result.err
    text = saved.read_text()
    assert "PRIVATE KEY-----" not in text
    assert "EndpointsConfigDump" in text
    result = run("config-dump", "--dump", saved, "--jsonpath",
                 '$.configs[*].dynamic_active_clusters[?(@.cluster.name =~ "outbound.*httpbin.*")]'
                 '.cluster.name')
    assert result.json() == "outbound|8000||httpbin.foo.svc.cluster.local"
    result = run("clusters", "--dump", saved, "-o", "json")
    assert result.code == 0, result.err
    counts = {i["name"]: (i["healthy_endpoints"], i["total_endpoints"])
              for i in result.json()["items"]}
    assert {name: counts[name] for name in ("outbound|8000||httpbin.foo.svc.cluster.local",
                                            "PassthroughCluster", "BlackHoleCluster")} == {
        "outbound|8000||httpbin.foo.svc.cluster.local": (1, 1),
        "PassthroughCluster": (1, 1), "BlackHoleCluster": (None, None)}
    result = run("endpoints", "--dump", saved, "-o", "json")
    assert {"outbound|8000||httpbin.foo.svc.cluster.local", "PassthroughCluster"} <= {
        i["cluster"] for i in result.json()["items"]}


def test_refused_admin_port_is_exit_3(healthy_lab):
    result = run("--admin-url", "sleep=http://127.0.0.1:1", "clusters", "sleep")
    assert result.code == 3
    assert result.err.startswith("error: admin port refused at http://127.0.0.1:1")
    assert "Traceback" not in result.err


def test_unknown_pod_offline_suggests_names(healthy_lab):
    result = run(*lab_args(healthy_lab), "clusters", "sleeep")
    assert result.code == 2 and "did you mean sleep" in result.err


def test_json_output_is_parseable_for_every_listing(healthy_lab):
    for command in ("clusters", "routes", "listeners", "endpoints"):
        result = run(*lab_args(healthy_lab), command, "sleep", "-o", "yaml")
        assert result.code == 0, (command, result.err)
        import yaml

        assert yaml.safe_load(result.out)["kind"].endswith("List")
        result = run(*lab_args(healthy_lab), command, "sleep", "-o", "json")
        assert json.loads(result.out)["items"], command


def test_admin_get_logging_is_refused_by_envoy(healthy_lab):
    """The fact our client relies on: GET /logging is 405 on Envoy 1.40."""
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as err:
        admin_get(healthy_lab.admin_url(healthy_lab.client), "/logging")
    assert err.value.code == 405


def test_stats_type_and_usedonly_are_envoys(healthy_lab):
    url = healthy_lab.admin_url(healthy_lab.client)
    result = run(*lab_args(healthy_lab), "stats", "sleep", "--type", "gauges", "--filter",
                 "^server", "-o", "json")
    assert result.code == 0, result.err
    names = {i["name"] for i in result.json()["items"]}
    assert "server.live" in names and "server.total_connections" in names
    assert not any(n.endswith(".seconds") for n in names if n.startswith("server.initialization"))
    used = run(*lab_args(healthy_lab), "stats", "sleep", "--usedonly", "-o", "json").json()
    total = admin_get(url, "/stats").decode().count("\n")
    assert 0 < len(used["items"]) < total


def test_stats_over_a_selector_is_ordered_by_pod(healthy_lab):
    result = run(*lab_args(healthy_lab), "stats", "-l", "app", "--filter", "^server.live$",
                 "-o", "json")
    assert result.code == 0, result.err
    assert [i["pod"] for i in result.json()["items"]] == ["foo/httpbin-v1", "foo/sleep"]


def test_manifests_from_stdin(healthy_lab):
    text = healthy_lab.manifest_path.read_text()
    result = run(*healthy_lab.admin_url_args(), "-f", "-", "-n", "foo", "clusters", "sleep",
                 "-o", "json", stdin=text)
    assert result.code == 0, result.err
    [httpbin] = [i for i in result.json()["items"] if i["fqdn"].startswith("httpbin")]
    assert httpbin["service"] == "foo/httpbin"


def test_completion_offers_the_proxys_logger_names(healthy_lab, capsys):
    from kubectl_meshdebug.cli.completion import run_completion
    from kubectl_meshdebug.cli.main import cli

    url = healthy_lab.admin_url(healthy_lab.client)
    run_completion(cli, ["--admin-url", f"foo/sleep={url}", "loglevel", "sleep", "rou"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == ":4"
    assert "router:\tnow warning" in lines


def _documented_keys(section: str) -> set[str]:
    """The keys docs/commands/proxy-config.md lists for a command's `-o json` items."""
    import re

    from tests.helpers import DATA

    text = (DATA.parents[1] / "docs" / "commands" / "proxy-config.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    listed = body.split("`-o json` items:", 1)[1].split(".", 1)[0]
    listed = re.sub(r"\([^)]*\)", "", listed)  # remarks in parentheses name no keys
    return set(re.findall(r"\b([a-z_]+)\b", " ".join(re.findall(r"`([^`]*)`", listed))))


@pytest.mark.parametrize("command,pod", [("clusters", "sleep"), ("routes", "sleep"),
                                         ("listeners", "httpbin-v1"),
                                         ("endpoints", "sleep")])
def test_json_keys_are_the_documented_ones(healthy_lab, command, pod):
    result = run(*lab_args(healthy_lab), command, pod, "-o", "json")
    assert result.code == 0, result.err
    keys = set().union(*(item.keys() for item in result.json()["items"]))
    assert keys == _documented_keys(command), keys ^ _documented_keys(command)
