"""Run the CLI in-process and read Envoy's admin API directly, for assertions."""

from __future__ import annotations

import contextlib
import io
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubectl_meshdebug.cli.main import main

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = Path(__file__).parent / "data"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(*args: str, stdin: str | None = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if stdin is not None:
            import sys

            old = sys.stdin
            sys.stdin = io.StringIO(stdin)
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            if stdin is not None:
                sys.stdin = old
    return Result(code, out.getvalue(), err.getvalue())


def admin_get(url: str, path: str, method: str = "GET") -> bytes:
    req = urllib.request.Request(url + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def admin_json(url: str, path: str) -> Any:
    return json.loads(admin_get(url, path))


def loggers(url: str) -> dict[str, str]:
    from kubectl_meshdebug.envoy.logging import parse_loggers

    return parse_loggers(admin_get(url, "/logging", "POST").decode())


def dump_objects(dump: Any, node_id: str) -> tuple[list[dict], str, str]:
    """(objects, client namespace, client pod name) a real sidecar's dump implies: a Service
    per outbound host of the cluster domain (ports named by what the dump builds for them:
    an HTTP route config or a TCP proxy), a DestinationRule with the subsets the dump has,
    a ready pod with a sidecar for each subset (and one plain), and the client pod itself."""
    from kubectl_meshdebug.mesh.names import fqdn_parts, parse_cluster_name

    parts = node_id.split("~")
    client, ns = parts[2].split(".")[0], parts[2].split(".")[1]
    http_ports = {r.route_config for r in dump.routes() if r.route_config.isdigit()}
    services: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in dump.clusters():
        name = parse_cluster_name(rec.name)
        where = fqdn_parts(name.fqdn) if name.direction == "outbound" else None
        if where is None or name.port is None:
            continue
        svc = services.setdefault(where, {"ports": {}, "subsets": set()})
        svc["ports"][name.port] = "http" if str(name.port) in http_ports else "tcp"
        if name.subset:
            svc["subsets"].add(name.subset)
    objects: list[dict[str, Any]] = []

    def pod(pod_name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": namespace, "labels": labels},
                "spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]},
                "status": {"phase": "Running",
                           "conditions": [{"type": "Ready", "status": "True"}]}}

    for (name, namespace), svc in sorted(services.items()):
        objects.append({"apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": name, "namespace": namespace},
                        "spec": {"selector": {"app": name}, "ports": [
                            {"name": f"{proto}-{port}", "port": port, "targetPort": port}
                            for port, proto in sorted(svc["ports"].items())]}})
        objects.append(pod(f"{name}-plain", namespace, {"app": name}))
        for subset in sorted(svc["subsets"]):
            objects.append(pod(f"{name}-{subset}", namespace, {"app": name, "version": subset}))
        if svc["subsets"]:
            objects.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                            "metadata": {"name": name, "namespace": namespace},
                            "spec": {"host": f"{name}.{namespace}.svc.cluster.local",
                                     "subsets": [{"name": s, "labels": {"version": s}}
                                                 for s in sorted(svc["subsets"])]}})
    objects.append(pod(client, ns, {"app": client.split("-")[0]}))
    return objects, ns, client
