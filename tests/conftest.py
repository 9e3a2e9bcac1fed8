"""Shared fixtures: real Envoy labs on loopback, started once per module and always stopped."""

from __future__ import annotations

import http.client
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from kubectl_meshdebug.lab.mesh import LabMesh
from kubectl_meshdebug.lab.scenarios import LAB_MESHES

# Property and fuzz tests explore new random inputs on every local run; CI replays a fixed
# set (HYPOTHESIS_PROFILE=ci in .ci/run), so that what lands is judged on the same cases
# every time. A case found locally gets its own regression test.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def send(mesh: LabMesh, host: str, port: int = 8000, path: str = "/get",
         request_id: str | None = None,
         extra_headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """One HTTP request through the client sidecar's outbound listener."""
    conn = http.client.HTTPConnection(*mesh.client_target(host, port), timeout=10)
    headers = {"Host": host, **(extra_headers or {})}
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
    mesh = LAB_MESHES["healthy-cluster-stats"]()
    with mesh:
        mesh.manifest_path = mesh.write_manifests()  # type: ignore[attr-defined]
        yield mesh


def lab_args(mesh: Any) -> list[str]:
    return mesh.admin_url_args() + ["-f", str(mesh.manifest_path), "-n", "foo"]


@pytest.fixture(scope="session")
def kubectl_binary(request: pytest.FixtureRequest) -> str:
    """A real kubectl: the one built with the test cluster (tests/cluster/build.py), else
    the machine's own."""
    from tests.cluster.build import BuildError, ensure_binaries, go_command

    if go_command() is not None:
        try:
            with _uncaptured(request):
                return str(ensure_binaries() / "kubectl")
        except BuildError as exc:
            if os.environ.get("MESHDEBUG_REQUIRE_CLUSTER") == "1":
                pytest.fail(str(exc), pytrace=False)
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("no kubectl: install Go (the tests build one) or kubectl")
    return found


def _uncaptured(request: pytest.FixtureRequest) -> Any:
    """Let a first build's progress reach the terminal (it takes minutes)."""
    import contextlib

    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        return contextlib.nullcontext()
    return capture.global_and_fixture_disabled()


@pytest.fixture(scope="session", autouse=True)
def capture_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Captures in tests keep their saved levels and locks here, never in the user's home."""
    path = str(tmp_path_factory.mktemp("capture-state"))
    old = os.environ.get("MESHDEBUG_STATE_DIR")
    os.environ["MESHDEBUG_STATE_DIR"] = path
    yield path
    if old is None:
        os.environ.pop("MESHDEBUG_STATE_DIR", None)
    else:
        os.environ["MESHDEBUG_STATE_DIR"] = old
