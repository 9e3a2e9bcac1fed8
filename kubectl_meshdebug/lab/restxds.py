"""The lab's EDS server: Envoy's REST-JSON xDS, answered from the recordings.

Why not files for endpoints too: every file subscription costs Envoy an inotify instance,
every EDS cluster is a subscription, and a user has 128 instances (ENVOY_LAB gotcha 2); a
mesh of five sidecars that each see a dozen Services would use most of them. Envoy's REST
subscription polls instead (`POST /v3/discovery:endpoints`, the DiscoveryRequest and
DiscoveryResponse as JSON), so one small server answers every proxy of a lab mesh, each by
its node id.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CLUSTER = "lab-xds"  # the bootstrap's static cluster that leads here
ASSIGNMENT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        server: RestXds = self.server  # type: ignore[assignment]
        length = int(self.headers.get("content-length") or 0)
        try:
            request = json.loads(self.rfile.read(min(length, 1 << 20)) or b"{}")
        except ValueError:
            request = {}
        node = str((request.get("node") or {}).get("id") or "")
        names = request.get("resourceNames") or request.get("resource_names") or []
        known = server.assignments.get(node, {})
        resources = [dict(known.get(n) or {"clusterName": n}, **{"@type": ASSIGNMENT})
                     for n in names]
        body = json.dumps({"versionInfo": "recorded", "typeUrl": ASSIGNMENT,
                           "resources": resources}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class RestXds(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.assignments: dict[str, dict[str, dict[str, Any]]] = {}
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def add(self, node_id: str, assignments: dict[str, dict[str, Any]]) -> None:
        """What the proxy NODE_ID is to be told, by EDS service name."""
        self.assignments[node_id] = assignments

    def config_source(self) -> dict[str, Any]:
        """The ConfigSource an EDS cluster points at to be answered here."""
        return {"resourceApiVersion": "V3", "apiConfigSource": {
            "apiType": "REST", "transportApiVersion": "V3", "clusterNames": [CLUSTER],
            "refreshDelay": "30s", "requestTimeout": "2s"}}

    def cluster(self) -> dict[str, Any]:
        """The bootstrap's static cluster for it."""
        host, port = self.server_address[:2]
        return {"name": CLUSTER, "type": "STATIC", "connectTimeout": "1s",
                "loadAssignment": {"clusterName": CLUSTER, "endpoints": [{"lbEndpoints": [
                    {"endpoint": {"address": {"socketAddress": {
                        "address": str(host), "portValue": int(port)}}}}]}]}}

    def start(self) -> RestXds:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
