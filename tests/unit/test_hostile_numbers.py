"""Numbers and shapes from outside that used to crash or mislead: a port of 5,000 digits,
200,000 metric series, `nan` as a duration, a target with two ports, an unclosed IPv6
bracket, a dump cut short, a closed stdout. Each is an answer or a one-line error with
the documented exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faulty_proxy import FaultyProxy
from tests.helpers import run

DATA = Path(__file__).resolve().parents[1] / "data"
DUMP = DATA / "istio/config_dump/sidecar/productpage-v1-automtls-istio1.4.json"
HUGE_PORT = "9" * 5000


def _answers() -> dict[str, bytes]:
    cluster = f"outbound|{HUGE_PORT}||reviews.default.svc.cluster.local"
    clusters = {"cluster_statuses": [{"name": cluster, "hostStatuses": [{
        "address": {"socketAddress": {"address": "10.0.0.7", "portValue": 9080}},
        "stats": [{"name": "rq_total", "value": "9"}, {"name": "rq_error", "value": "7"}]}]}]}
    series = ('istio_requests_total{reporter="source",source_workload="w",'
              'source_workload_namespace="default",destination_service='
              f'"reviews.default.svc.cluster.local",destination_port="{HUGE_PORT}",'
              'response_code="503",response_flags="UC"} 7\n')
    return {"/clusters": json.dumps(clusters).encode(), "/stats/prometheus": series.encode(),
            "/stats": f"cluster.{cluster}.upstream_rq_503: 7\n".encode()}


@pytest.mark.parametrize("command", [["errors", "x"], ["errors", "x", "-o", "json"],
                                     ["endpoints", "x"], ["stats", "x"]])
def test_a_port_of_5000_digits_is_no_port_and_no_crash(command):
    with FaultyProxy("scripted", answers=_answers()) as proxy:
        result = run("--admin-url", f"default/x={proxy.url}", "-n", "default", *command)
    assert result.code in (0, 1), result.err
    assert "internal error" not in result.err and "Traceback" not in result.err


def test_errors_over_200000_series_stay_bounded():
    from kubectl_meshdebug.envoy.istio_metrics import SERIES_MAX, parse_requests_total

    line = ('istio_requests_total{{reporter="source",source_workload="w{0}",'
            'destination_service="s.default.svc.cluster.local",response_code="503"}} 1')
    counts = parse_requests_total("\n".join(line.format(i) for i in range(200_000)))
    assert counts is not None and len(counts) == SERIES_MAX
    assert counts.dropped == 200_000 - SERIES_MAX


def test_ports_are_ascii_digits_within_range():
    from kubectl_meshdebug.mesh.names import parse_cluster_name

    assert parse_cluster_name("outbound|9080||r.default.svc.cluster.local").port == 9080
    assert parse_cluster_name("outbound|\u0668\u0660||r.default.svc.cluster.local").port is None
    assert parse_cluster_name("outbound|70000||r.default.svc.cluster.local").port is None
    assert parse_cluster_name(f"outbound|{HUGE_PORT}||r.default.svc.cluster.local").port is None


@pytest.mark.parametrize("args, text", [
    (["stats", "x", "--delta", "nan"], "not a finite number"),
    (["stats", "x", "--delta", "inf"], "inf"),
    (["--admin-url", "default/p=http://[::1:15000", "clusters", "p"], "is not an http://"),
    (["why-503", "x", "httpbin.foo:8000:1", "-f", str(DATA / "no-sidecar-client.yaml")],
     "one port number"),
])
def test_odd_arguments_are_one_line_usage_errors(args, text):
    result = run("--admin-url", "default/x=http://127.0.0.1:9", "-n", "default", *args)
    assert result.code == 2 and text in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["listeners", "routes", "clusters"])
def test_a_dump_cut_short_is_an_error_not_no_resources(command, tmp_path):
    cut = tmp_path / "cut.json"
    cut.write_bytes(DUMP.read_bytes()[:5000])
    result = run(command, "--dump", str(cut))
    assert result.code == 2 and "not valid JSON" in result.err, (result.out, result.err)
    assert "No resources found" not in result.err + result.out


def test_a_closed_stdout_still_runs_and_returns_its_exit_code():
    for args, code in ((["clusters", "--dump", str(DUMP)], 0),
                       (["clusters", "--dump", "/nonexistent"], 2)):
        proc = subprocess.run(f'"{sys.executable}" -m kubectl_meshdebug '
                              + " ".join(args) + " >&-", shell=True, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == code, proc.stderr
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
