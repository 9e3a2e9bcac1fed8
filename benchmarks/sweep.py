"""`errors -A` over many real Envoys against `xargs -P8 curl` of the same admin calls.

Each Envoy has a static configuration (no file watches: a few hundred sidecars would
exhaust the machine's inotify instances) of CLUSTERS outbound clusters shaped as istiod
renders them, one endpoint each, and its admin on its own loopback address. A handful of
clusters carry real traffic (through a static listener to a real upstream), so that the
map has edges to keep.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kubectl_meshdebug.lab import xds
from kubectl_meshdebug.lab.envoyproc import EnvoyProcess

BUSY = 4  # clusters per Envoy that carry traffic


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        code = 503 if self.path.startswith("/fail") else 200
        self.send_response(code)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def _cluster(i: int, upstream: tuple[str, int]) -> dict[str, Any]:
    fqdn = f"svc{i}.ns{i % 20}.svc.cluster.local"
    name = f"outbound|8000||{fqdn}"
    address, port = upstream if i < BUSY else (f"10.1.{i // 250}.{i % 250 + 1}", 8080)
    return {"name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": address,
                                                             "port_value": port}}}}]}]},
            "metadata": xds.istio_metadata(None, [{"host": fqdn, "name": f"svc{i}",
                                                   "namespace": f"ns{i % 20}"}])}


def _listener(address: str) -> dict[str, Any]:
    vhosts = [{"name": f"svc{i}", "domains": [f"svc{i}"], "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": _cluster(i, ("", 0))["name"]}}]}
        for i in range(BUSY)]
    return {"name": "0.0.0.0_8000", "address": {"socket_address": {
        "address": address, "port_value": 8000}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network."
                     "http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "outbound_0.0.0.0_8000",
            "route_config": {"name": "8000", "virtual_hosts": vhosts},
            "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        }}]}]}


class Fleet:
    """COUNT Envoys on 127.66.x.y, each with CLUSTERS clusters; traffic on a few."""

    def __init__(self, count: int, clusters: int) -> None:
        self.count, self.clusters = count, clusters
        self.work = Path(tempfile.mkdtemp(prefix="meshdebug-bench-fleet-"))
        self.upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
        threading.Thread(target=self.upstream.serve_forever, daemon=True).start()
        self.envoys: list[EnvoyProcess] = []

    def address(self, i: int) -> str:
        return f"127.66.{i // 250}.{i % 250 + 2}"

    def start(self) -> Fleet:
        upstream = self.upstream.server_address[:2]
        clusters = [_cluster(i, upstream) for i in range(self.clusters)]

        def one(i: int) -> EnvoyProcess:
            address = self.address(i)
            boot = xds.bootstrap(f"sidecar~{address}~p{i:03d}.bench~bench.svc.cluster.local",
                                 (address, 15000), None, static_clusters=clusters,
                                 static_listeners=[_listener(address)])
            envoy = EnvoyProcess(f"p{i:03d}", self.work, boot, (address, 15000))
            envoy.start(wait=120)
            for n in range(BUSY):  # real traffic: two clusters fail, two succeed
                conn = http.client.HTTPConnection(address, 8000, timeout=10)
                conn.request("GET", "/fail" if n < 2 else "/", headers={"Host": f"svc{n}"})
                conn.getresponse().read()
                conn.close()
            return envoy

        with ThreadPoolExecutor(16) as pool:
            self.envoys = list(pool.map(one, range(self.count)))
        return self

    def manifests(self, count: int) -> tuple[Path, list[str]]:
        """Pods and --admin-url flags for the first COUNT Envoys."""
        import yaml

        pods = [{"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": f"p{i:03d}", "namespace": "bench", "labels": {"app": "b"}},
                 "spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]},
                 "status": {"phase": "Running", "podIP": self.address(i)}}
                for i in range(count)]
        path = self.work / f"pods-{count}.yaml"
        path.write_text(yaml.safe_dump_all(pods))
        urls = [a for i in range(count) for a in (
            "--admin-url", f"bench/p{i:03d}=http://{self.address(i)}:15000")]
        return path, urls

    def curl_urls(self) -> Path:
        """The admin calls errors makes per proxy, for xargs curl."""
        calls = ["/clusters?format=json&filter=" + quote(r"^outbound\|", safe=""),
                 "/stats?filter=" + quote(r"^cluster\.outbound\|.*\.(upstream_rq_completed|"
                                          r"upstream_rq_5xx|upstream_rq_pending_overflow|"
                                          r"upstream_cx_none_healthy|upstream_rq_timeout|"
                                          r"upstream_cx_connect_fail)$", safe=""),
                 "/stats/prometheus?filter=istio_requests_total"]
        path = self.work / "urls.txt"
        path.write_text("".join(f"http://{self.address(i)}:15000{c}\n"
                                for i in range(self.count) for c in calls))
        return path

    def stop(self) -> None:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda e: e.stop(), self.envoys))
        self.upstream.shutdown()
        shutil.rmtree(self.work, ignore_errors=True)


def answer_bytes(fleet: Fleet) -> int:
    out = subprocess.run(["sh", "-c", f"xargs -P8 -n1 curl -s < {fleet.curl_urls()} | wc -c"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())
