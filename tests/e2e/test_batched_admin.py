"""Admin answers fetched in one curl round trip give the same diagnosis as one call each.

Through the API server the batch is one exec (tests/cluster counts them); here the same
curl command runs on this machine against the lab's real Envoys, so that what curl
returns (statuses, Envoy's own error bodies, 404 for an empty `?resource=`) goes through
the same parsing as pilot-agent's answers."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.envoy.proxyview import collect_views
from kubectl_meshdebug.kube.state import ClusterState, ManifestSource
from kubectl_meshdebug.lab.scenarios import SCENARIOS
from kubectl_meshdebug.mesh.target import resolve_target
from kubectl_meshdebug.transport.base import AdminResponse
from kubectl_meshdebug.transport.direct import DirectTransport
from kubectl_meshdebug.transport.exec import batch_argv, split_batch

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="no curl here")


class LocalCurl(DirectTransport):
    """A transport whose batches are the exec transport's curl command, run here."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url
        self.batches: list[int] = []

    def request_batch(self, method: str, paths: list[str],
                      timeout: float) -> list[AdminResponse | None] | None:
        where = urlsplit(self.url)
        argv = batch_argv(method, paths, where.port or 80, timeout, host=where.hostname or "")
        self.batches.append(len(paths))
        out = subprocess.run(argv, capture_output=True, timeout=timeout + 5).stdout
        return split_batch(out, len(paths))


def _views(mesh, scenario, transport):
    state = ClusterState(ManifestSource(mesh.manifests(), "foo"))
    target = resolve_target(scenario.service, scenario.client_namespace, state)
    peers = [mesh.client] + [p for s in mesh.services for p in s.pods
                             if (s.name, s.namespace) == (target.name, target.namespace)]
    transports = {p.name: transport(mesh.admin_url(p)) for p in peers if p.name in mesh.envoys}
    targets = [(f"{p.namespace}/{p.name}", state.get("Pod", p.namespace, p.name),
                AdminClient(transports[p.name]) if p.name in transports else None)
               for p in peers]
    return collect_views(targets, {}), transports


def _seen(view):
    dump = view.dump
    return (sorted(c.name for c in dump.clusters()), sorted(li.name for li in dump.listeners()),
            sorted((r.route_config, r.virtual_host) for r in dump.routes()),
            len(view.secrets()), sorted((view.statuses or {}).keys()),
            view.stat("server.live"), view.ready, view.errors)


@pytest.mark.parametrize("name", ["dr-no-tls", "lds-rejected"])
def test_one_round_trip_per_proxy_and_the_same_answers(name):
    scenario = SCENARIOS[name]
    mesh = scenario.build()
    with mesh:
        scenario.run_traffic(mesh)
        one_by_one, _ = _views(mesh, scenario, DirectTransport)
        batched, transports = _views(mesh, scenario, LocalCurl)
    assert [_seen(v) for v in batched] == [_seen(v) for v in one_by_one]
    for transport in transports.values():
        assert transport.batches and transport.batches[0] >= 8  # one batch for the view
