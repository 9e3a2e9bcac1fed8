"""Shared fixtures: real Envoy labs on loopback, started once per module and always stopped."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import pytest

from kubectl_meshdebug.lab.mesh import LabMesh
from kubectl_meshdebug.lab.scenarios import SCENARIOS


def send(mesh: LabMesh, host: str, port: int = 8000, path: str = "/get",
         request_id: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    """One HTTP request through the client sidecar's outbound listener."""
    conn = http.client.HTTPConnection(mesh.client.ip, port, timeout=10)
    headers = {"Host": host}
    if request_id:
        headers["x-request-id"] = request_id
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def healthy_lab() -> Iterator[LabMesh]:
    mesh = SCENARIOS["healthy"].build()
    mesh.client_stats_prefixes = ["cluster.outbound"]
    with mesh:
        mesh.manifest_path = mesh.write_manifests()  # type: ignore[attr-defined]
        yield mesh


def lab_args(mesh: Any) -> list[str]:
    return mesh.admin_url_args() + ["-f", str(mesh.manifest_path), "-n", "foo"]
