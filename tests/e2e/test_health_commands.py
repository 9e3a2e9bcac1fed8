"""sync, capture and logs against real Envoy sidecars; check-inject on objects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.conftest import lab_args, send
from tests.helpers import loggers, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def rejected_lab():
    mesh = SCENARIOS["rds-rejected"].build()
    with mesh:
        mesh.manifest_path = mesh.write_manifests()
        yield mesh


def test_sync_healthy_proxy(healthy_lab):
    result = run(*lab_args(healthy_lab), "sync", "sleep", "-o", "json")
    assert result.code == 0, result.err
    [item] = result.json()["items"]
    assert item["verdict"] == "ACCEPTED" and item["ready"] is True
    assert item["cds"]["update_success"] == 1 and item["lds"]["update_rejected"] == 0


def test_sync_sees_rejected_routes_and_the_log_message(rejected_lab):
    log = rejected_lab.client_log()
    result = run(*lab_args(rejected_lab), "sync", "sleep", "--log-file", log)
    assert result.code == 1
    assert "sleep: REJECTED" in result.out
    assert "route config 8000 is used by a listener but missing" in result.out
    assert "Only unique values for domains are permitted" in result.out


def test_sync_table_over_every_proxy(rejected_lab):
    result = run(*lab_args(rejected_lab), "sync", "-A")
    assert result.code == 1
    lines = result.out.strip().splitlines()
    assert lines[0].split()[:2] == ["POD", "STATUS"]
    assert [line.split()[:2] for line in lines[1:]] == [["foo/httpbin-v1", "ACCEPTED"],
                                                        ["foo/sleep", "REJECTED"]]


def test_sync_unreachable_proxy():
    result = run("--admin-url", "foo/x=http://127.0.0.1:1", "sync", "x")
    assert result.code == 3 and "refused" in result.err


def test_capture_for_a_while_then_levels_are_back(healthy_lab, tmp_path):
    url = healthy_lab.admin_url(healthy_lab.client)
    before = loggers(url)
    out = tmp_path / "trace.log"
    import threading

    threading.Timer(0.6, lambda: send(healthy_lab, "httpbin.foo:8000")).start()
    result = run(*lab_args(healthy_lab), "capture", "sleep", "--for", "1.5s", "--log-file",
                 healthy_lab.client_log(), "--out", out)
    assert result.code == 0, result.err
    assert "restored" in result.err
    assert " trace " in out.read_text() or "\ttrace\t" in out.read_text()
    assert loggers(url) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_capture_restores_levels(healthy_lab, sig):
    url = healthy_lab.admin_url(healthy_lab.client)
    before = loggers(url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubectl_meshdebug", *map(str, lab_args(healthy_lab)),
         "capture", "sleep", "--paths", "router:trace,http:debug", "--log-file",
         str(healthy_lab.client_log())],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and loggers(url).get("router") != "trace":
        time.sleep(0.05)
    assert loggers(url)["router"] == "trace"
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=20)
    assert loggers(url) == before
    assert "restored" in err and "Traceback" not in err


def test_capture_unknown_logger_changes_nothing(healthy_lab):
    url = healthy_lab.admin_url(healthy_lab.client)
    before = loggers(url)
    result = run(*lab_args(healthy_lab), "capture", "sleep", "--paths", "routr:trace",
                 "--log-file", healthy_lab.client_log(), "--for", "1s")
    assert result.code == 2 and "unknown logger 'routr'" in result.err
    assert loggers(url) == before


def test_logs_explain_decodes_real_lines(tmp_path):
    scenario = SCENARIOS["dr-no-tls"]
    mesh = scenario.build()
    with mesh:
        scenario.run_traffic(mesh)
        text = mesh.client_log().read_text()
    path = tmp_path / "sleep.log"
    path.write_text(text + "not an access log line at all\n")
    result = run("logs", "--log-file", path, "--explain", "--status", "5xx", "-o", "json")
    assert result.code == 0, result.err
    items = result.json()["items"]
    assert items and all(i["status"] == 503 and i["flags"] == ["UC"] for i in items)
    assert items[0]["finding"] == "tls-mode-mismatch"
    assert "UpstreamConnectionTermination" in items[0]["explanation"]
    everything = run("logs", "--log-file", path).out
    assert "not an access log line at all" in everything  # never dropped
    flagged = run("logs", "--log-file", path, "--flags", "UF", "-o", "json").json()
    assert flagged["items"] == []


# --- one proxy of many fails: its row marked, the others shown, one exit code -------------

POD_X = """\
apiVersion: v1
kind: Pod
metadata: {name: x, namespace: foo, labels: {app: sleep}}
spec: {containers: [{name: app}, {name: istio-proxy}]}
status: {phase: Running}
"""


@pytest.mark.parametrize("command,shown", [
    (["sync", "-A"], "foo/sleep"),
    (["stats", "-l", "app=sleep", "--filter", "^server.live$"], "server.live"),
    (["loglevel", "-l", "app=sleep"], "foo/sleep:"),
])
def test_sweep_with_one_faulty_proxy(healthy_lab, tmp_path, command, shown):
    from tests.faulty_proxy import FaultyProxy

    (tmp_path / "x.yaml").write_text(POD_X)
    with FaultyProxy("drip-body") as proxy:
        result = run(*lab_args(healthy_lab), "-f", tmp_path / "x.yaml", "--admin-url",
                     f"foo/x={proxy.url}", "--request-timeout", "1s", *command)
    assert result.code == 3, result.err  # nothing wrong where it could look: unreachable
    assert shown in result.out
    assert "foo/x" in result.out + result.err and "within 1s" in result.out + result.err
    assert "Traceback" not in result.err


def test_sweep_finding_outranks_an_unreachable_proxy(rejected_lab, tmp_path):
    from tests.faulty_proxy import FaultyProxy

    (tmp_path / "x.yaml").write_text(POD_X)
    with FaultyProxy("silent") as proxy:
        result = run(*lab_args(rejected_lab), "-f", tmp_path / "x.yaml", "--admin-url",
                     f"foo/x={proxy.url}", "--request-timeout", "1s", "sync", "-A")
    assert result.code == 1, result.err  # the rejected config is the diagnosis
    assert "REJECTED" in result.out


def test_why503_with_a_named_server_that_never_answers(healthy_lab):
    from tests.faulty_proxy import FaultyProxy

    with FaultyProxy("silent") as proxy:
        result = run(*lab_args(healthy_lab), "--admin-url", f"foo/x={proxy.url}",
                     "--request-timeout", "1s", "why-503", "sleep", "httpbin:8000",
                     "--server", "x")
    assert result.code == 3, result.err
    assert "No problems found." not in result.out
    assert "No problems found in what could be read" in result.out
    assert "could not read foo/x" in result.err


def test_why503_with_an_unread_server_sidecar_of_the_service_exits_3(healthy_lab):
    """No --server: the Service's own pod has a sidecar whose admin port refuses. Nothing
    error-level in what was read is no all-clear: exit 3, naming the sidecar."""
    args = lab_args(healthy_lab)
    server = next(a for a in args if a.startswith("foo/httpbin"))
    label = server.split("=", 1)[0]
    args[args.index(server)] = f"{label}=http://127.0.0.1:9"
    result = run(*args, "--request-timeout", "2s", "why-503", "sleep", "httpbin:8000")
    assert result.code == 3, (result.out, result.err)
    assert "No problems found." not in result.out
    assert f"could not read the server sidecar {label}" in result.err, result.err
