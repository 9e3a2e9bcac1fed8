"""`errors -A` over many real Envoys against `xargs -P8 curl` of the same admin calls.

Each Envoy has a static configuration (no file watches: a few hundred sidecars would
exhaust the machine's inotify instances) of CLUSTERS outbound clusters as istiod renders
them (copied from a recorded sidecar, benchmarks/meshgen.py), one endpoint each, and its
admin on its own loopback address. A handful of clusters carry real traffic (through the
recorded listener to a real upstream), so that the map has edges to keep.
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

from benchmarks.meshgen import scaled, service
from kubectl_meshdebug.lab.envoyproc import EnvoyProcess
from kubectl_meshdebug.lab.recording import RecordedProxy
from kubectl_meshdebug.lab.replay import replay

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


def _proxy(clusters: int, upstream: tuple[str, int]) -> RecordedProxy:
    """CLUSTERS services as istiod renders them (benchmarks/meshgen.py); the first BUSY
    lead to the real upstream, as endpoints without a sidecar (plaintext)."""
    proxy = scaled(clusters, lambda i: upstream if i < BUSY else None)
    for load in proxy.endpoints[:BUSY]:
        for group in load.get("endpoints") or []:
            for lb in group.get("lbEndpoints") or []:
                lb.get("metadata", {}).get("filterMetadata", {}).pop(
                    "envoy.transport_socket_match", None)
    return proxy


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
        proxy = _proxy(self.clusters, (str(upstream[0]), int(upstream[1])))

        def one(i: int) -> EnvoyProcess:
            address = self.address(i)
            out = replay(proxy, {}, pod_ip=address, local_ip=address, capture_ip=address,
                         capture_ips={}, folder=self.work, static=True)
            envoy = EnvoyProcess(f"p{i:03d}", self.work, out.bootstrap, (address, 15000))
            envoy.start(wait=120)
            for n in range(BUSY):  # real traffic: two clusters fail, two succeed
                conn = http.client.HTTPConnection(address, 8000, timeout=10)
                name, namespace, _ = service(n)
                conn.request("GET", "/fail" if n < 2 else "/",
                             headers={"Host": f"{name}.{namespace}"})
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
