"""The failure scenarios of the lab: each one a mesh, the request that fails, the expected cause.

Every scenario is the story it is named after, reduced to loopback: the Istio objects a
user applied, the Envoy config istiod would have sent for them, and real apps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kubectl_meshdebug.lab.mesh import LabMesh, LabPod, LabService

MESH_STRICT = {
    "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
    "metadata": {"name": "default", "namespace": "istio-system"},
    "spec": {"mtls": {"mode": "STRICT"}},
}


def mesh_config(auto_mtls: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {"mesh": f"enableAutoMtls: {'true' if auto_mtls else 'false'}\n"
                         "rootNamespace: istio-system\n"},
    }


def httpbin_pod(name: str = "httpbin-v1", version: str = "v1", app: str = "ok",
                app_port: int = 8080, sidecar: bool = True) -> LabPod:
    return LabPod(name, labels={"app": "httpbin", "version": version}, app=app,
                  app_port=app_port, service_account="httpbin", sidecar=sidecar)


@dataclass
class Scenario:
    name: str
    summary: str
    expected: str | None  # first finding id, None for the healthy pair
    build: Callable[[], LabMesh]
    service: str = "httpbin"
    port: int = 8000
    host: str = "httpbin.foo:8000"
    burst: int = 1  # concurrent requests to send


def healthy() -> LabMesh:
    svc = LabService("httpbin", pods=[httpbin_pod()])
    return LabMesh([svc], objects=[MESH_STRICT, mesh_config()])


SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in [
        Scenario("healthy", "A healthy pair: auto mTLS to a STRICT server, 200 OK.", None,
                 healthy),
    ]
}
