"""A big mesh for the scale runs, made from what real istiod sent a real sidecar.

The template is the client sidecar of the `healthy` recording (kubectl_meshdebug/lab/
recordings): its cluster, virtual host and endpoints for httpbin are copied once per
service with the names changed, so every cluster carries what istiod renders (TLS
transport socket matches, metadata, circuit breakers, Istio's domains and retry policy).
Endpoints are inline (STATIC clusters): one EDS file per cluster would need an inotify
instance each (ENVOY_LAB gotcha 2).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from kubectl_meshdebug.lab import recording
from kubectl_meshdebug.lab.envoyproc import EnvoyProcess
from kubectl_meshdebug.lab.recording import RecordedProxy
from kubectl_meshdebug.lab.replay import replay

TEMPLATE_HOST = "httpbin.foo"
PORT = 8000


def service(i: int) -> tuple[str, str, str]:
    name, ns = f"svc{i}", f"ns{i % 50}"
    return name, ns, f"{name}.{ns}.svc.cluster.local"


def template(rec: recording.Recording) -> RecordedProxy:
    proxy = rec.proxy("foo", "sleep")
    assert proxy is not None, "the healthy recording has no foo/sleep"
    return proxy


def _renamed(doc: Any, i: int, cluster_ip: str) -> Any:
    """DOC about httpbin.foo made about service I: host, names, namespace, ClusterIP."""
    name, ns, _ = service(i)
    text = (json.dumps(doc).replace(TEMPLATE_HOST, f"{name}.{ns}")
            .replace("httpbin", name).replace('"namespace": "foo"', f'"namespace": "{ns}"'))
    if cluster_ip:
        text = text.replace(cluster_ip, f"10.{96 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}")
    return json.loads(text)


def scaled(n: int, endpoint: Any = None) -> RecordedProxy:
    """The template sidecar with its one service repeated N times. ENDPOINT(i) gives
    service i's (address, port), or None for the recorded one with a distinct address."""
    rec = recording.load("healthy")
    base = template(rec)
    cluster_ip = next((a for a, role in rec.addresses.items()
                       if role == "service foo/httpbin"), "")
    suffix = f"|{PORT}||{TEMPLATE_HOST}.svc.cluster.local"
    cluster = next(c for c in base.clusters if c["name"].endswith(suffix))
    load = next(e for e in base.endpoints if e["clusterName"].endswith(suffix))
    route = next(r for r in base.routes if r["name"] == str(PORT))
    vhost = next(v for v in route["virtualHosts"] if v["name"].startswith(TEMPLATE_HOST))
    clusters, loads, vhosts = [], [], []
    for i in range(n):
        clusters.append(_renamed(cluster, i, cluster_ip))
        one = _renamed(load, i, cluster_ip)
        address, port = (endpoint(i) if endpoint else None) or \
            (f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 8080)
        for group in one.get("endpoints") or []:
            for lb in group.get("lbEndpoints") or []:
                lb["endpoint"]["address"]["socketAddress"] = {"address": address,
                                                              "portValue": port}
        loads.append(one)
        vhosts.append(_renamed(vhost, i, cluster_ip))
    others = [v for v in route["virtualHosts"] if not v["name"].startswith(TEMPLATE_HOST)
              and "." not in v["name"].split(":")[0]]  # the catch-all (allow_any)
    routes = [dict(copy.deepcopy(route), virtualHosts=vhosts + others)]
    listeners = [lis for lis in base.listeners if lis["name"] == f"0.0.0.0_{PORT}"]
    specials = [c for c in base.clusters if "|" not in c["name"]]
    return RecordedProxy(base.pod, base.node, base.stats_config, clusters + specials,
                         listeners, routes, loads)


def start_proxy(proxy: RecordedProxy, name: str, workdir: Path, address: str,
                wait: float = 600) -> EnvoyProcess:
    """PROXY replayed into an Envoy whose admin and listeners are on ADDRESS."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = replay(proxy, {}, pod_ip=address, local_ip=address, capture_ip=address,
                 capture_ips={}, folder=workdir, inline_eds=True)
    envoy = EnvoyProcess(name, workdir, out.bootstrap, (address, 15000))
    envoy.start(wait=wait)
    return envoy


def start_envoy(n: int, workdir: Path, address: str = "127.0.0.77") -> EnvoyProcess:
    return start_proxy(scaled(n), "client", workdir, address)
