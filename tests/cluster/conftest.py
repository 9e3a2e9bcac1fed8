"""Fixtures for the tests against a real kube-apiserver (marked `cluster`).

One control plane per test session, built from the Go module proxy on first use and cached
outside the checkout (tests/cluster/build.py). Without Go the tests skip, saying why,
unless MESHDEBUG_REQUIRE_CLUSTER=1 (as .ci/run sets), which makes that a failure.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kubectl_meshdebug.lab.mesh import LabMesh
from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.cluster.build import BuildError, ensure_binaries, ensure_istio, go_command
from tests.cluster.controlplane import ControlPlane
from tests.cluster.labcluster import LabCluster


def pytest_collection_modifyitems(items: list[Any]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.cluster)


def _unavailable(reason: str) -> None:
    if os.environ.get("MESHDEBUG_REQUIRE_CLUSTER") == "1":
        pytest.fail(f"the cluster tests are required here, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory,
                  request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    from tests.conftest import _uncaptured

    if go_command() is None:
        _unavailable("go is not installed: the cluster tests build kube-apiserver with it")
    try:
        with _uncaptured(request):
            binaries = ensure_binaries()
            istio = ensure_istio()
    except BuildError as exc:
        _unavailable(f"the cluster binaries could not be built: {exc}")
    cp = ControlPlane(tmp_path_factory.mktemp("cluster"), binaries,
                      crds=istio / "crd-all.gen.yaml", pilot_agent=istio / "pilot-agent").start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def lab_cluster(control_plane: ControlPlane) -> LabCluster:
    return LabCluster(control_plane)


@pytest.fixture(scope="session")
def istio_mesh(control_plane: ControlPlane, lab_cluster: LabCluster) -> Iterator[Any]:
    """istiod on the session's control plane; scenarios' pods come and go on it
    (tests/cluster/istiomesh.py). Needs root for the pods' network namespaces."""
    from tests.cluster.istiomesh import IstioMesh
    from tests.cluster.network import missing_tools

    reason = missing_tools()
    if reason:
        _unavailable(f"no real mesh here: {reason}")
    mesh = IstioMesh(control_plane, ensure_istio(), lab_cluster).start()
    try:
        yield mesh
    finally:
        mesh.stop()


@pytest.fixture(scope="module")
def in_mesh(istio_mesh: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The module's SCENARIO (default healthy) on the real mesh, its calls sent."""
    scenario = SCENARIOS[getattr(request.module, "SCENARIO", "healthy")]
    istio_mesh.load(scenario.build())
    try:
        istio_mesh.drive(scenario)
        yield istio_mesh
    finally:
        istio_mesh.unload()


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float

    def json(self) -> Any:
        import json

        return json.loads(self.out)


def kubectl(cp: ControlPlane, *args: str, user: str = "admin", timeout: float = 120,
            env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """The real kubectl, as `user`; `kubectl meshdebug ...` runs the installed plugin."""
    started = time.monotonic()
    proc = subprocess.run(["kubectl", *[str(a) for a in args]], capture_output=True, text=True,
                          env={**cp.env(user), **(env or {})}, timeout=timeout, input=input)
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


@pytest.fixture(scope="module")
def loaded(lab_cluster: LabCluster, request: pytest.FixtureRequest) -> Iterator[LabMesh]:
    """A lab scenario (the module's SCENARIO, default healthy) running, with traffic
    driven, and its objects in the API server."""
    name = getattr(request.module, "SCENARIO", "healthy")
    scenario = SCENARIOS[name]
    mesh = scenario.build()
    with mesh:
        scenario.run_traffic(mesh)
        lab_cluster.load(mesh)
        yield mesh
