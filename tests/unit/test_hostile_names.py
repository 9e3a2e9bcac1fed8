"""A proxy whose owner chose its names: nothing it says may become a command, a line, a
terminal action or graph syntax in what the tool prints.

The proxy answers with a real sidecar's config dump and /clusters (Istio's own test data),
every `reviews` in them replaced by a hostile name, plus istio_requests_total series
naming it. Every command that reads a proxy runs against it in every output format; what
it prints is checked the way a user would be hurt: each suggested command is run through a
real shell (with `kubectl` a function that only records its arguments), dot output goes
through Graphviz, Mermaid output through a statement grammar, text output line by line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.faulty_proxy import FaultyProxy
from tests.helpers import run

DATA = Path(__file__).resolve().parents[1] / "data"
FORGED = "next: kubectl delete namespace prod"
HOSTILE = {
    "shell": "x;touch pwned;$(touch pwned)`touch pwned`",
    "newline": f"x\n{FORGED}\n",
    "carriage-return": f"x\r{FORGED}",
    "terminal": "x\x1b]0;owned\x07\x1b[2J\x1b[8mhidden",
    "bidi": "x\u202etxt.exe",
    "mermaid": 'x"]\n%%{init: {"theme": "dark"}}%%\n%% `**md**` #quot; click h0 call alert()',
    "dot": 'x" -> evil [label="\\N',
    "huge": "a" * 100_000,
    "color-mark": "x\U000f000030;40\U000f0000hidden",
}
MANIFESTS = """\
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
"""


def _renamed(node: Any, name: str) -> Any:
    if isinstance(node, str):
        return node.replace("reviews", name)
    if isinstance(node, list):
        return [_renamed(v, name) for v in node]
    if isinstance(node, dict):
        return {k: _renamed(v, name) for k, v in node.items()}
    return node


def _prom_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _answers(name: str) -> dict[str, bytes]:
    dump = json.loads((DATA / "istio/config_dump/sidecar/productpage-v1-automtls-istio1.4.json")
                      .read_text())
    clusters = json.loads((DATA / "istio/clusters/json/clusters-envoy1.8-camelcase.json")
                          .read_text())
    clusters["cluster_statuses"].append({
        "name": f"outbound|9080||{name}.default.svc.cluster.local",
        "hostStatuses": [{"address": {"socketAddress": {"address": "10.0.0.7",
                                                        "portValue": 9080}},
                          "stats": [{"name": "rq_total", "value": "9"},
                                    {"name": "rq_error", "value": "7"}]}]})
    prom = (DATA / "istio_requests_total.prom").read_text()
    prom = prom.replace('"reviews', '"' + _prom_label(name)).replace(
        "|reviews.", "|" + _prom_label(name) + ".")
    return {"/config_dump": json.dumps(_renamed(dump, name)).encode(),
            "/clusters": json.dumps(clusters).encode(),
            "/stats/prometheus": prom.encode(),
            "/stats": f"cluster.outbound|9080||{name}.default.svc.cluster.local."
                      "upstream_rq_503: 7\n".encode()}


COMMANDS = [
    ["errors", "x"], ["errors", "x", "-o", "wide"], ["errors", "x", "-o", "json"],
    ["errors", "x", "-o", "dot"], ["errors", "x", "-o", "mermaid"],
    ["clusters", "x"], ["clusters", "x", "-o", "wide"], ["listeners", "x"], ["routes", "x"],
    ["endpoints", "x"], ["config-dump", "x", "-o", "yaml"], ["stats", "x"], ["certs", "x"],
    ["sync", "x"], ["sync", "x", "-o", "wide"], ["loglevel", "x"],
    ["stats", "x", "-o", "prometheus"],
    ["why-503", "x", "reviews:9080", "-f", "{manifests}"],
    ["path", "x", "reviews:9080", "-f", "{manifests}"],
    ["path", "x", "reviews:9080", "-f", "{manifests}", "-o", "dot"],
    ["path", "x", "reviews:9080", "-f", "{manifests}", "-o", "mermaid"],
]
_SUGGESTION = re.compile(r"(?:^next: |run: |then: |\(|^\s*fix: )(kubectl [^()]*?)(?:\)|$)")
_MERMAID_STATEMENT = re.compile(
    r'\s*(?:flowchart (?:TD|LR)|\w+\["[^"`%\n]*"\](?::::\w+)?|\w+ -->(?:\|"[^"`%\n]*"\|)? \w+'
    r'|classDef \w+ [-\w:#,.;]+|linkStyle [\d,]+ [-\w:#,.;]+)\Z')


def _check_text(text: str, raw: bool = False) -> None:
    """No control or reordering character printed raw; no line of a name's making (in
    `-o prometheus`, the proxy's own text by request, its lines are the proxy's)."""
    for bad in ("\x1b", "\x07", "\r", "\u202e", "\U000f0000"):
        assert bad not in text, f"{bad!r} printed raw"
    for line in [] if raw else text.splitlines():
        assert not line.startswith(FORGED), "a name wrote a line of its own"
        assert not line.lstrip().startswith("kubectl delete"), line


def _run_suggestions(text: str, workdir: Path) -> int:
    """Every command the output suggests, run by /bin/sh with kubectl only recording."""
    ran = 0
    for line in text.splitlines():
        for match in _SUGGESTION.finditer(line):
            script = "kubectl() { printf '%s\\n' \"$@\" >> argv; }\n" + match.group(1)
            subprocess.run(["sh", "-c", script], cwd=workdir, timeout=10,
                           capture_output=True)
            ran += 1
            assert not (workdir / "pwned").exists(), f"suggestion ran a command: {line}"
            argv = (workdir / "argv").read_text().splitlines()
            assert argv[:1] in (["meshdebug"], ["get"], ["describe"], ["label"],
                                ["rollout"], ["apply"]), argv
            (workdir / "argv").unlink()
    return ran


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_names_reach_no_shell_line_terminal_or_graph(kind, tmp_path):
    name = HOSTILE[kind]
    manifests = tmp_path / "objects.yaml"
    manifests.write_text(MANIFESTS)
    with FaultyProxy("scripted", answers=_answers(name)) as proxy:
        for command in COMMANDS:
            args = [a.format(manifests=manifests) for a in command]
            result = run("--admin-url", f"default/x={proxy.url}", "-n", "default",
                         "--request-timeout", "5s", *args)
            where = f"{kind}: {' '.join(command)}: exit {result.code}: {result.err[-300:]}"
            assert result.code in (0, 1, 2, 3), where
            assert "Traceback" not in result.err and "internal error" not in result.err, where
            _check_text(result.out + result.err, raw="prometheus" in command)
            if "prometheus" not in command:
                _run_suggestions(result.out, tmp_path)
            if "json" in command and result.code in (0, 1):
                for item in json.loads(result.out).get("items", []):
                    assert item["next"] is None or isinstance(item["next"], list), where
            if "dot" in command and shutil.which("dot"):
                graph = subprocess.run(["dot", "-Tsvg"], input=result.out, text=True,
                                       capture_output=True, timeout=30)
                assert graph.returncode == 0 and not graph.stderr, (where, graph.stderr)
            if "mermaid" in command:
                for line in result.out.splitlines():
                    assert _MERMAID_STATEMENT.match(line), (where, line)
                    assert "%%" not in line and "`" not in line, (where, line)


def test_suggested_commands_are_quoted_and_checked_names():
    """The quoting rule itself: valid names pass unchanged (what users paste today), an
    argument with shell syntax is quoted, and a name no Kubernetes object can carry gives
    no command with it in."""
    from kubectl_meshdebug.mesh.commands import kubectl_hint, pod_command, pod_hint, shell

    assert pod_hint("sync", "sleep-5b59", "foo", "--logs") == \
        "kubectl meshdebug sync sleep-5b59 --logs -n foo"
    assert pod_command("why-503", "x;rm -rf ~", "foo") is None
    assert pod_hint("sync", "x\nrm", "foo") == "kubectl meshdebug sync POD"
    assert shell(["kubectl", "get", "a b", "$(x)"]) == "kubectl get 'a b' '$(x)'"
    assert kubectl_hint("get", "pods", "-n", "Bad;ns", names=["Bad;ns"]) == \
        "kubectl get pods -n <name>"


def test_a_run_suggestion_in_a_shell_is_what_it_says(tmp_path):
    """Checked against a real shell: the quoted argv comes back word for word."""
    from kubectl_meshdebug.mesh.commands import shell

    argv = ["kubectl", "x;touch pwned", "$(touch pwned)", "a b", "'", "\\"]
    script = "kubectl() { printf '%s\\n' \"$@\" > argv; }\n" + shell(argv)
    subprocess.run(["sh", "-c", script], cwd=tmp_path, check=True, timeout=10)
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "argv").read_text().splitlines() == argv[1:]
