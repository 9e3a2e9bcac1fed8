"""why-503 on every lab scenario: real Envoys, real traffic, the first finding must be the cause.

Each scenario starts real sidecars with the config istiod would have sent, drives the
failing traffic (so response flags, stats and access logs are Envoy's own), then runs
why-503 offline (-f objects, --admin-url proxies, --log-file logs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.helpers import run

pytestmark = pytest.mark.e2e


@pytest.fixture(params=sorted(SCENARIOS), scope="module")
def scenario_run(request):
    scenario = SCENARIOS[request.param]
    mesh = scenario.build()
    with mesh:
        mesh.write_manifests()
        outcomes = scenario.run_traffic(mesh)
        yield scenario, mesh, outcomes


def test_the_failure_is_real(scenario_run):
    scenario, _mesh, outcomes = scenario_run
    assert any(scenario.symptom in str(o) for o in outcomes), [str(o) for o in outcomes]


def test_first_finding_explains_it(scenario_run):
    scenario, mesh, _ = scenario_run
    result = run(*scenario.why503_args(mesh), "-o", "json")
    doc = result.json()
    ids = [f["id"] for f in doc["findings"]]
    if scenario.expected is None:
        remarks = [f["id"] for f in doc["findings"] if f["severity"] != "error"]
        assert result.code == 0 and ids == remarks, doc["findings"]
        assert "tls-mode-mismatch" in doc["checked"]
    else:
        assert result.code == 1, result.err
        assert ids[0] == scenario.expected, ids
        first = doc["findings"][0]
        assert first["evidence"] and first["fix"]
        assert first["docs"] == f"docs/checks/{scenario.expected}.md"


def test_found_without_access_logs(scenario_run):
    """What a default sidecar exposes (config, /clusters, manager stats) is enough, except
    where only the access log records the symptom."""
    scenario, mesh, _ = scenario_run
    if scenario.needs_logs or scenario.expected is None:
        pytest.skip("this cause shows only in the access log")
    result = run(*scenario.why503_args(mesh, logs=False), "-o", "json")
    ids = [f["id"] for f in result.json()["findings"]]
    assert ids and ids[0] == scenario.expected, ids


def test_every_lab_proxy_is_read_without_complaint(scenario_run):
    """Every sidecar of the lab answers: no "could not read" (Envoy answers `{}` when a
    /clusters filter matches nothing, as for a host outside the mesh; that is no error)."""
    scenario, mesh, _ = scenario_run
    result = run(*scenario.why503_args(mesh))
    assert "could not read" not in result.err, result.err
    assert "reads failed" not in result.out


def _client(scenario) -> str:
    return f"{scenario.client_namespace}/{scenario.client}"


def test_text_report_has_evidence_and_fix(scenario_run):
    scenario, mesh, _ = scenario_run
    result = run(*scenario.why503_args(mesh))
    if scenario.expected is None:  # nothing wrong, or only a doubt that breaks nothing
        assert "No problems found." in result.out or (
            result.out.startswith("WARNING") and "ERROR" not in result.out), result.out
    else:
        lines = result.out.splitlines()
        # The answer is the first line, before the path picture and the evidence.
        assert lines[0].startswith(("ERROR", "WARNING")), lines[0]
        assert f" [{scenario.expected}] " in lines[0] and f"why-503: {_client(scenario)} -> " in lines[0]
        assert any(line.startswith("1. ") and f"[{scenario.expected}]" in line for line in lines)
        assert "fix:" in result.out and "docs: kubectl meshdebug explain " in result.out


def test_checks_read_only_what_they_declare(scenario_run):
    """On real Envoys: each check, alone on a fresh context, reads no object kind and no
    proxy data beyond its declaration."""
    from kubectl_meshdebug.checks.context import RecordingState
    from kubectl_meshdebug.checks.registry import WHY503_CHECKS
    from kubectl_meshdebug.checks.runner import BASE_KINDS
    from kubectl_meshdebug.checks.why503_context import Why503Context
    from kubectl_meshdebug.envoy.admin import AdminClient
    from kubectl_meshdebug.envoy.proxyview import collect_views
    from kubectl_meshdebug.kube.state import ClusterState, ManifestSource
    from kubectl_meshdebug.mesh.correlate import MeshContext
    from kubectl_meshdebug.mesh.target import resolve_target
    from kubectl_meshdebug.transport.direct import DirectTransport

    scenario, mesh, _ = scenario_run
    state = ClusterState(ManifestSource(mesh.manifests(), "foo"))
    target = resolve_target(scenario.service, "foo", state)
    peers = [mesh.client] + [p for s in mesh.services for p in s.pods
                             if (s.name, s.namespace) == (target.name, target.namespace)]
    targets = [(f"{p.namespace}/{p.name}", state.get("Pod", p.namespace, p.name),
                AdminClient(DirectTransport(mesh.admin_url(p))) if p.name in mesh.envoys
                else None) for p in peers]
    logs = {f"{p.namespace}/{p.name}": mesh.envoys[p.name].log_path.read_text()
            for p in peers if p.name in mesh.envoys}
    views = collect_views(targets, logs)
    for check in WHY503_CHECKS:
        kinds: set[str] = set()
        proxy: set[str] = set()
        recording = RecordingState(state, kinds)
        for view in views:
            view.recorder = proxy
        context = MeshContext.build(recording, targets[0][1], "foo")
        check.run(Why503Context(target, views[0], views[1:], recording, context))
        assert kinds <= check.kinds | BASE_KINDS, (check.name, kinds - check.kinds)
        assert proxy <= check.proxy, (check.name, proxy - check.proxy)


# -- path: the same call as hops ------------------------------------------------------------

PATH_DOC = Path(__file__).resolve().parents[2] / "docs" / "commands" / "path.md"


def _documented(marker: str) -> Any:
    text = PATH_DOC.read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1]
    return json.loads(block.split("```json", 1)[1].split("```", 1)[0])


def _documented_facts() -> dict[str, set[str]]:
    rows = PATH_DOC.read_text().split("<!-- facts -->", 1)[1].split("\n\n", 1)[0]
    out = {}
    for line in rows.splitlines()[2:]:
        hop, keys = [c.strip() for c in line.strip("|").split("|")]
        out[hop] = {k.strip() for k in keys.split(",")}
    return out


def _conforms(value: Any, shape: Any, where: str) -> None:
    """`value` has exactly the documented keys and types ("string|null", "Hop", ...)."""
    if isinstance(shape, dict):
        assert isinstance(value, dict), where
        assert set(value) == set(shape), (where, set(value) ^ set(shape))
        for key, sub in shape.items():
            _conforms(value[key], sub, f"{where}.{key}")
    elif isinstance(shape, list):
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            _conforms(item, shape[0], f"{where}[{i}]")
    elif shape == "Hop":
        _conforms(value, _documented("hop"), where)
        assert value["mark"] in ("ok", "broken", "unknown"), where
        assert set(value["facts"]) <= _documented_facts()[value["hop"]], \
            (where, set(value["facts"]) - _documented_facts()[value["hop"]])
    else:
        types = {"string": str, "integer": int, "null": type(None), "object": dict}
        allowed = tuple(types[t] for t in shape.split("|"))
        assert isinstance(value, allowed) and not isinstance(value, bool), (where, value)


def _path_args(scenario: Any, mesh: Any, logs: bool = True) -> list[str]:
    return ["path", *scenario.why503_args(mesh, logs=logs)[1:]]


# Where each lab scenario breaks, read from the story, not from the code's own table.
BROKEN_HOP = {
    "authz-allow-other": "server", "authz-deny-namespace": "server",
    "dr-no-tls": "cluster", "tls-disable-strict": "cluster",
    "subset-no-pods": "endpoints", "vs-subset-undefined": "cluster",
    "unknown-host": "route", "unknown-host-registry-only": "route",
    "circuit-breaker": "cluster", "outlier-ejected": "endpoints", "invalid-header": "app",
    "target-port": "app", "no-endpoints": "endpoints", "rds-rejected": "client",
    "cds-rejected": "client", "lds-rejected": "client", "route-timeout": "route",
    "app-resets-connection": "app", "invalid-header-behind-sidecar": "app",
    "target-port-ejected": "app", "weighted-branch-no-pods": "endpoints",
    "gateway-client": "endpoints",
    "http2-port": "app",
    "four-services": "cluster",
}


def test_path_breaks_where_the_first_finding_points(scenario_run):
    """The hops come from the lab's real Envoys; the first broken one carries the first
    finding of why-503, on the hop that finding is about. Healthy: every hop ok."""
    from kubectl_meshdebug.checks.callpath import HOPS

    scenario, mesh, _ = scenario_run
    result = run(*_path_args(scenario, mesh), "-o", "json")
    doc = result.json()
    shape = _documented("shape")
    if doc["broken"] is None:
        shape = {**shape, "broken": "null"}
    _conforms(doc, shape, "path")
    hops = doc["hops"] + [h for b in doc["branches"] for h in b["hops"]]
    assert doc["client"] == _client(scenario) and hops[0]["hop"] == "client"
    if scenario.expected is None:
        assert result.code == 0, result.err
        assert [h["hop"] for h in hops] == list(HOPS)
        # nothing broken; doubtful only where a warning points, or (a host outside the
        # mesh) where only its access log could vouch for the app
        assert [h["name"] for h in hops if h["mark"] == "broken"] == []
        assert all(h.get("finding") or h["hop"] == "app" for h in hops if h["mark"] != "ok")
    else:
        assert result.code == 1, result.err
        assert doc["broken"]["finding"] == scenario.expected, doc["broken"]
        assert doc["broken"]["hop"] == BROKEN_HOP[scenario.name]
        why = run(*scenario.why503_args(mesh), "-o", "json").json()
        assert why["path"]["broken"] == doc["broken"]


# What the real Envoys hold at some hops, per scenario: hop -> (field, expected).
PATH_FACTS: dict[str, list[tuple[str, str, Any]]] = {
    "healthy": [("listener", "name", "0.0.0.0_8000"),
                ("cluster", "name", "outbound|8000||httpbin.foo.svc.cluster.local"),
                ("cluster", "facts.tls", "auto"), ("server", "facts.inbound.*.accepts", "mtls"),
                ("endpoints", "facts.hosts.*.pod", "foo/httpbin-v1")],
    "dr-no-tls": [("cluster", "facts.tls", "none"),
                  ("cluster", "facts.destination_rule", "DestinationRule foo/httpbin")],
    "subset-no-pods": [("cluster", "facts.subset", "v1"), ("endpoints", "mark", "broken"),
                       ("server", "name", "no pod of subset v1")],
    # the HTTP chain for plaintext, TLS through the default chain (istiod 1.31)
    "port-443-http": [("listener", "facts.protocols", ["HTTP", "TCP"]),
                      # a doubt: default/kubernetes is TCP on 443, tekton's port HTTP
                      ("listener", "mark", "unknown"), ("listener", "finding", "protocol-conflict"),
                      ("cluster", "name", "PassthroughCluster")],
    "unknown-host-registry-only": [("route", "facts.virtual_host", "block_all")],
    "unknown-host": [("route", "facts.virtual_host", "allow_any")],
    "outlier-ejected": [("endpoints", "facts.healthy", 0)],
    "no-endpoints": [("endpoints", "mark", "broken")],
}


def _field(hop: dict[str, Any], dotted: str) -> Any:
    value: Any = hop
    for part in dotted.split("."):
        if part == "*":
            value = next(iter(value.values())) if isinstance(value, dict) else value[0]
        else:
            value = value[part]
    return value


def test_path_hops_hold_what_the_envoys_hold(scenario_run):
    scenario, mesh, _ = scenario_run
    expected = PATH_FACTS.get(scenario.name)
    if not expected:
        pytest.skip("no per-hop facts listed for this scenario")
    doc = run(*_path_args(scenario, mesh), "-o", "json").json()
    hops = {h["hop"]: h for h in doc["hops"] + [h for b in doc["branches"] for h in b["hops"]]}
    for hop, dotted, value in expected:
        assert _field(hops[hop], dotted) == value, (hop, dotted, hops[hop])


def test_path_picture_in_every_format(scenario_run):
    scenario, mesh, _ = scenario_run
    args = _path_args(scenario, mesh)
    text = run(*args)
    lines = text.out.splitlines()
    assert lines[0] == f"path: {_client(scenario)} -> " + run(*args, "-o", "json").json()["target"]
    assert "\x1b[" not in text.out  # not a terminal: no colour
    marked = [line for line in lines if line.lstrip().startswith("✘")]
    plain = run(*args, "--ascii").out
    assert plain.isascii()
    dot = run(*args, "-o", "dot").out
    mermaid = run(*args, "-o", "mermaid").out
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert mermaid.startswith("flowchart TD")
    if scenario.expected is None:
        assert marked == [] and "XX" not in plain and "broken" not in mermaid.split("classDef")[0]
    else:
        # the cause's hop is marked; hops its effects broke may come before it
        assert f"<- [{scenario.expected}]" in marked[0] or any(
            f"<- [{scenario.expected}]" in m for m in marked) and \
            run(*args, "-o", "json").json()["broken"]["finding"] == scenario.expected
        assert " XX " in plain
        assert f"[{scenario.expected}]" in dot and f"[{scenario.expected}]" in mermaid
        assert ":::broken" in mermaid and "fillcolor=mistyrose" in dot
    picture = lines[: lines.index("")] if "" in lines else lines
    why = run(*scenario.why503_args(mesh)).out.splitlines()
    # why-503 opens with its verdict, then the same picture
    assert why[1: len(picture) + 2] == [""] + picture
    bare = run(*scenario.why503_args(mesh), "--no-path").out.splitlines()
    assert bare[0] == why[0] and "path: " not in "\n".join(bare)


def test_docs_pages_show_what_the_lab_prints(scenario_run):
    """Every lab block in docs/ (path pictures, proxy-config tables, the errors map) is what
    the tool prints now for that scenario (addresses and padding aside)."""
    from tools.gen_docs import blocks, comparable, pages, render

    scenario, mesh, _ = scenario_run
    uses = [(page, command, body) for page in pages()
            for name, command, body in blocks(page.read_text()) if name == scenario.name]
    if not uses:
        pytest.skip("not shown in the docs")
    for page, command, body in uses:
        assert comparable(body, command) == comparable(render(scenario, mesh, command), command), \
            f"{page.name}: {command}: regenerate with python -m tools.gen_docs"


_PRINTED = re.compile(r"kubectl meshdebug [a-z0-9-]+(?: (?!then\b)[^\s;()]+)*")


def test_every_command_the_report_prints_parses(scenario_run):
    """fix:, next:, see: and docs: lines name commands a user pastes: each must be one
    the tool takes as printed (an issue found printed commands with options that do not
    exist). Placeholders (POD, <name>) are the user's to fill in; parsing is checked by
    click itself, without running a command that would change a proxy."""
    import shlex

    import click

    from kubectl_meshdebug.cli.main import cli

    scenario, mesh, _ = scenario_run
    report = run(*scenario.why503_args(mesh), "--no-path")
    printed = set(_PRINTED.findall(report.out + report.err))
    assert printed or scenario.expected is None
    for command in printed:
        words = shlex.split(command)[2:]
        words = [w for w in words if w not in ("POD", "NS")]  # placeholders
        with cli.make_context("kubectl meshdebug", list(words), resilient_parsing=False) as ctx:
            name, sub, rest = cli.resolve_command(ctx, list(words))
            assert sub is not None, command
            try:
                sub.make_context(name, rest, parent=ctx)
            except click.UsageError as exc:
                raise AssertionError(f"{command!r}: {exc.format_message()}") from exc
        if words[0] == "explain":
            assert run(*words).code == 0, command
