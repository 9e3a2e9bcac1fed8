"""Faults from real Envoys and broken peers: each ends in one line and the right exit code."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
from pathlib import Path

import pytest

from kubectl_meshdebug.lab.envoyproc import EnvoyProcess
from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.helpers import run

pytestmark = pytest.mark.e2e


def _one_line(result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_envoy_frozen_past_request_timeout():
    mesh = SCENARIOS["healthy"].build()
    with mesh:
        envoy = mesh.envoys["sleep"]
        os.kill(envoy.proc.pid, signal.SIGSTOP)
        try:
            result = run(*mesh.admin_url_args(), "clusters", "sleep", "--request-timeout", "1s")
        finally:
            os.kill(envoy.proc.pid, signal.SIGCONT)
        assert result.code == 3
        assert "did not answer" in _one_line(result) and "within 1s" in result.err


def test_envoy_killed():
    mesh = SCENARIOS["healthy"].build()
    with mesh:
        envoy = mesh.envoys["sleep"]
        envoy.proc.kill()
        envoy.proc.wait()
        result = run(*mesh.admin_url_args(), "loglevel", "sleep")
        assert result.code == 3 and "admin port refused" in _one_line(result)


def test_response_cut_mid_body():
    """What a client sees when the proxy dies while sending a large config dump."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n{\"configs\": [{\"@type\": \"type.goog")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    port = server.getsockname()[1]
    result = run("--admin-url", f"x=http://127.0.0.1:{port}", "config-dump", "x")
    server.close()
    assert result.code == 3 and "IncompleteRead" in _one_line(result)


def _unready_envoy(workdir: Path) -> EnvoyProcess:
    """An Envoy whose xDS server is gone: /ready stays 503 PRE_INITIALIZING."""
    address = "127.0.0.91"
    boot: dict = {
        "node": {"id": "sidecar~127.0.0.91~lost.foo~foo.svc.cluster.local",
                 "cluster": "lost.foo"},
        "admin": {"address": {"socket_address": {"address": address, "port_value": 15000}}},
        "static_resources": {}}
    boot["static_resources"]["clusters"] = [{
        "name": "xds-grpc", "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": "xds-grpc", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                         "port_value": 1}}}}]}]},
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3."
                         "HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}}}]
    ads = {"ads": {}, "resource_api_version": "V3", "initial_fetch_timeout": "0s"}
    boot["dynamic_resources"] = {
        "ads_config": {"api_type": "GRPC", "transport_api_version": "V3",
                       "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]},
        "cds_config": ads, "lds_config": ads}
    envoy = EnvoyProcess("lost", workdir, boot, (address, 15000))
    envoy.start(ready=False)
    return envoy


def test_proxy_that_never_gets_config():
    workdir = Path(tempfile.mkdtemp(prefix="meshdebug-lab-unready-"))
    envoy = _unready_envoy(workdir)
    try:
        url = f"foo/lost={envoy.admin_url}"
        result = run("--admin-url", url, "sync", "lost", "-o", "json")
        assert result.code == 1, result.err
        [item] = result.json()["items"]
        assert item["verdict"] == "NOT READY" and item["ready"] is False
        assert "PRE_INITIALIZING" in item["state"] or "PRE_INITIALIZING" in str(item["problems"])
        why = run("--admin-url", url, "why-503", "lost", "httpbin.foo:8000", "-o", "json")
        ids = [f["id"] for f in why.json()["findings"]]
        assert ids[0] == "proxy-not-ready", ids
    finally:
        envoy.stop()


def test_two_hundred_megabyte_dump(tmp_path):
    """A sidecar without a Sidecar resource in a big mesh: the dump reaches hundreds of MB."""
    path = tmp_path / "big.json"
    cluster = ('{"version_info": "v1", "cluster": {"@type": "type.googleapis.com/envoy.config.'
               'cluster.v3.Cluster", "name": "outbound|8000||svc%d.ns.svc.cluster.local", '
               '"type": "EDS", "connect_timeout": "10s", "metadata": {"filter_metadata": '
               '{"istio": {"services": [{"host": "svc%d.ns.svc.cluster.local"}]}}}, '
               '"padding": "' + "x" * 1900 + '"}}')
    count = 100_000
    with path.open("w") as fh:
        fh.write('{\n "configs": [\n  {\n   "@type": "type.googleapis.com/envoy.admin.v3.'
                 'ClustersConfigDump",\n   "dynamic_active_clusters": [')
        fh.write(",".join(cluster % (i, i) for i in range(count)))
        fh.write("]\n  }\n ]\n}\n")
    assert path.stat().st_size > 200_000_000
    result = run("clusters", "--dump", path, "--fqdn", "svc99999.ns.svc.cluster.local", "-o",
                 "json")
    assert result.code == 0, result.err
    assert [i["name"] for i in result.json()["items"]] == [
        "outbound|8000||svc99999.ns.svc.cluster.local"]
