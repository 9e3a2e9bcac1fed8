"""The why-503 checks over real sidecars' config dumps (tests/data, from Istio's own tests
and field reports), for every service each dump knows, with the objects the dump implies.

A healthy sidecar must not make a check cry error; each check must read only the object
kinds and proxy data it declares (as istio's analyzer tests hold analyzers to their
declared inputs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_meshdebug.checks.context import RecordingState
from kubectl_meshdebug.checks.registry import WHY503_CHECKS
from kubectl_meshdebug.checks.runner import BASE_KINDS, run_why503
from kubectl_meshdebug.checks.why503_context import Why503Context
from kubectl_meshdebug.envoy.config_dump import ConfigDump
from kubectl_meshdebug.envoy.proxyview import ProxyView
from kubectl_meshdebug.kube.state import ClusterState, ManifestSource
from kubectl_meshdebug.mesh.correlate import MeshContext
from kubectl_meshdebug.mesh.names import fqdn_parts, parse_cluster_name
from kubectl_meshdebug.mesh.target import resolve_target
from tests.helpers import DATA, dump_objects

SIDECARS = sorted((DATA / "istio" / "config_dump" / "sidecar").glob("*istio1.*.json"))
# Dumps whose mesh really is broken for some calls, and which finding says so.
KNOWN_BROKEN: dict[tuple[str, str], str] = {}


def _node_id(doc: dict) -> str:
    for section in doc["configs"]:
        if "Bootstrap" in section.get("@type", ""):
            return section["bootstrap"]["node"]["id"]
    raise AssertionError("no bootstrap")


def calls(path: Path) -> list[tuple[str, int]]:
    dump = ConfigDump.from_json(json.loads(path.read_text()))
    out = set()
    for rec in dump.clusters():
        name = parse_cluster_name(rec.name)
        if name.direction == "outbound" and fqdn_parts(name.fqdn) and name.port:
            out.add((name.fqdn, name.port))
    return sorted(out)


def contexts(path: Path, recorders: tuple[set[str], set[str]] | None = None):
    doc = json.loads(path.read_text())
    dump = ConfigDump.from_json(doc)
    objects, ns, client = dump_objects(dump, _node_id(doc))
    state = ClusterState(ManifestSource(objects, ns))
    client_pod = state.get("Pod", ns, client)
    for host, port in calls(path):
        target = resolve_target(f"{host}:{port}", ns, state)
        view = ProxyView(f"{ns}/{client}", client_pod)
        view.dump = dump
        seen = state
        if recorders is not None:
            seen = RecordingState(state, recorders[0])
            view.recorder = recorders[1]
        mesh = MeshContext.build(seen, client_pod, ns)
        yield f"{host}:{port}", Why503Context(target, view, [], seen, mesh)


@pytest.mark.parametrize("path", SIDECARS, ids=lambda p: p.name)
def test_no_false_errors_on_real_sidecars(path: Path):
    assert calls(path), "the dump should know some services"
    for call, ctx in contexts(path):
        errors = [f for f in run_why503(ctx) if f.severity == "error"]
        known = KNOWN_BROKEN.get((path.name, call))
        assert [f.id for f in errors] == ([known] if known else []), (
            call, [(f.id, f.summary) for f in errors])


@pytest.mark.parametrize("check", WHY503_CHECKS, ids=lambda c: c.name)
def test_checks_read_only_what_they_declare_on_real_dumps(check):
    for path in SIDECARS:
        kinds: set[str] = set()
        proxy: set[str] = set()
        for call, ctx in contexts(path, (kinds, proxy)):
            check.run(ctx)
            assert kinds <= check.kinds | BASE_KINDS, (path.name, call, kinds - check.kinds)
            assert proxy <= check.proxy, (path.name, call, proxy - check.proxy)
