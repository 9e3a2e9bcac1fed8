"""Which resources of a proxy one call can involve, in Istio's names (why-503, path).

Client side: the outbound listener for the port (`0.0.0.0_PORT`, `IP_PORT`, or the
`virtualOutbound` catch-all), route configs `PORT` or `HOST:PORT`, and the outbound
clusters of the host, plus whatever cluster the matching route points at (a
VirtualService may send the call elsewhere). Server side: the inbound listeners and
clusters. Envoy caps these RE2 patterns at a program size of 100, so they stay short
and over-inclusive (`httpbin.foo.*`); the checks match exact names themselves.
"""

from __future__ import annotations

import re

from kubectl_meshdebug.envoy.config_dump import ConfigDump
from kubectl_meshdebug.envoy.proxyview import ViewFocus
from kubectl_meshdebug.mesh.hosts import vhost_matches

# Every sidecar's own clusters for the catch-all routes and listeners.
CATCH_ALL_CLUSTERS = ("PassthroughCluster", "BlackHoleCluster")


def client_focus(host: str, port: int, gateway: bool = False) -> ViewFocus:
    """What a client's proxy is asked for. A gateway's routes are in its servers' route
    configs (`http.8080`), on listeners of the Gateway's ports, not the Service's."""
    labels = host.split(".")
    short = re.escape(".".join(labels[:2])) + (r"\..*" if len(labels) > 2 else "")

    def route_targets(dump: ConfigDump) -> list[str]:
        forms = [host, f"{host}:{port}"]
        wanted = {c for r in dump.routes() if any(vhost_matches(r.domains, h) for h in forms)
                  for c, _ in r.clusters}
        return sorted(wanted | set(CATCH_ALL_CLUSTERS))

    return ViewFocus(
        clusters=rf"outbound\|{port}\|[^|]*\|{short}",
        routes=rf"{port}|.*:{port}" + (r"|https?\.[0-9].*" if gateway else ""),
        listeners=rf".*_{port}|virtualOutbound" + (r"|.*_[0-9]+" if gateway else ""),
        host=host, port=port, also_clusters=route_targets)


def server_focus(target_port: int | str | None) -> ViewFocus:
    port = re.escape(str(target_port)) if target_port is not None else "[0-9]+"
    return ViewFocus(clusters=r"inbound\|.*|InboundPassthroughCluster.*", routes=r"inbound.*",
                     listeners=rf"virtualInbound|inbound.*|.*_{port}")
