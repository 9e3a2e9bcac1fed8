"""docs/exit-codes.md, command by command: bad usage is 2, an unreachable cluster or proxy
is 3, each as one line; a closed stdout ends quietly with 0. A command added without a
row here fails test_every_command_has_a_row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_meshdebug.cli.main import cli
from tests.helpers import DATA, run

DUMP = DATA / "istio" / "config_dump" / "sidecar" / "productpage-v1-automtls-istio1.4.json"
PROXY_DOWN = ["--admin-url", "foo/x=http://127.0.0.1:1", "-n", "foo"]

# command -> (an invocation that needs the cluster or a proxy, one with a bad flag value)
ROWS: dict[str, tuple[list[str], list[str]]] = {
    "why-503": (["why-503", "x", "httpbin:8000"], ["why-503", "x", "httpbin", "--tail", "-5"]),
    "describe": (["describe", "pod", "x"], ["describe", "pod", "x", "-o", "dot"]),
    "audit": (["audit", "-A"], ["audit", "--only", "no-such-check", "-A"]),
    "check-inject": (["check-inject", "x"], ["check-inject", "x", "-o", "prometheus"]),
    "sync": (["sync", "x", *PROXY_DOWN], ["sync", "x", "--concurrency", "0"]),
    "logs": (["logs", "x"], ["logs", "x", "--status", "6xx"]),
    "capture": (["capture", "x", "--for", "1s", *PROXY_DOWN], ["capture", "x", "--for", "0"]),
    "loglevel": (["loglevel", "x", *PROXY_DOWN], ["loglevel", "x", "loud"]),
    "stats": (["stats", "x", *PROXY_DOWN], ["stats", "x", "--filter", "(unclosed"]),
    "clusters": (["clusters", "x", *PROXY_DOWN], ["clusters", "x", "--port", "99999"]),
    "routes": (["routes", "x", *PROXY_DOWN], ["routes", "x", "-o", "prometheus"]),
    "listeners": (["listeners", "x", *PROXY_DOWN], ["listeners", "x", "--port", "http"]),
    "endpoints": (["endpoints", "x", *PROXY_DOWN], ["endpoints", "x", "--status", "maybe"]),
    "config-dump": (["config-dump", "x", *PROXY_DOWN], ["config-dump", "x", "--resource", "pets"]),
    "certs": (["certs", "x", *PROXY_DOWN], ["certs", "x", "-o", "prometheus"]),
    "demo": ([], ["demo", "no-such-scenario"]),
    "path": (["path", "x", "httpbin:8000"], ["path", "x", "httpbin", "-o", "prometheus"]),
    "errors": (["errors", "x", *PROXY_DOWN], ["errors", "-A", "--window", "soon"]),
    "explain": ([], ["explain", "no-such-finding"]),
    "collect": (["collect", "-A"], ["collect", "-A", "-o", "wide"]),
}

# offline invocations whose output a closed pipe cuts short
PIPED = [
    ["audit", "-A", "-f", str(DATA / "no-sidecar-client.yaml")],
    ["clusters", "--dump", str(DUMP)],
    ["routes", "--dump", str(DUMP)],
    ["listeners", "--dump", str(DUMP)],
    ["endpoints", "--dump", str(DATA / "istio" / "config_dump" / "endpoints" / "bookinfo-sidecar-eds.json")],
    ["config-dump", "--dump", str(DUMP)],
    ["--help"],
]


@pytest.fixture(scope="module")
def dead_cluster(tmp_path_factory) -> Path:
    """A kubeconfig whose API server port refuses connections."""
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text("""\
apiVersion: v1
kind: Config
current-context: down
clusters: [{name: down, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: down, context: {cluster: down, user: u, namespace: foo}}]
""")
    return path


def _one_line(result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ") and "Traceback" not in result.err
    assert "internal error" not in result.err
    return lines[0]


def test_every_command_has_a_row():
    assert sorted(ROWS) == sorted(cli.list_commands(None))  # type: ignore[arg-type]


@pytest.mark.parametrize("command", sorted(ROWS))
def test_bad_usage_is_2(command, dead_cluster):
    result = run("--kubeconfig", dead_cluster, *ROWS[command][1])
    assert result.code == 2, (result.code, result.err)
    line = _one_line(result)
    assert "--help" in line or "use one of" in line or "not" in line or "--list" in line


@pytest.mark.parametrize("command", sorted(c for c in ROWS if ROWS[c][0]))
def test_unreachable_is_3(command, dead_cluster):
    result = run("--kubeconfig", dead_cluster, "--request-timeout", "2s", *ROWS[command][0])
    assert result.code == 3, (result.code, result.err)
    line = _one_line(result)
    assert "refused" in line or "cannot reach" in line or "did not answer" in line


def test_malformed_kubeconfig_is_2(tmp_path):
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts: 5\n")
    result = run("--kubeconfig", path, "audit", "-A")
    assert result.code == 2 and "kubeconfig is malformed" in _one_line(result)


@pytest.mark.parametrize("target", ["dir", "missing-dir", "read-only"])
def test_save_where_it_cannot_be_written_is_2(tmp_path, target):
    if target == "read-only":
        if hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0:
            pytest.skip("root writes anywhere")
        (tmp_path / "ro").mkdir(mode=0o500)
    path = {"dir": tmp_path, "missing-dir": tmp_path / "no" / "f.json",
            "read-only": tmp_path / "ro" / "f.json"}[target]
    result = run("config-dump", "--dump", DUMP, "--save", path)
    assert result.code == 2, result.err
    assert "--save" in _one_line(result)


def test_failed_save_leaves_no_half_file(tmp_path):
    target = tmp_path / "dump.json"
    target.write_text("previous")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    result = run("config-dump", "--dump", bad, "--save", target)
    assert result.code == 2
    assert target.read_text() == "previous"


@pytest.mark.parametrize("args", PIPED, ids=lambda a: a[0])
def test_closed_stdout_ends_quietly_with_0(args):
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_meshdebug", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -0`: nobody reads
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert err == b""


@pytest.mark.parametrize("name", ["a;b", "../x", "x/../../stats", "A_B", "a" * 254, "x y",
                                  "$(id)", "-n"])
def test_names_that_are_not_kubernetes_names_are_refused(name):
    """Before anything is asked of a cluster or a proxy: such a name would otherwise reach
    an API path or the admin path built from it."""
    result = run("--admin-url", "ok=http://127.0.0.1:1", "loglevel", "--", name)
    assert result.code == 2, result.err
    if "/" not in name and " " not in name:
        assert "not a valid Kubernetes name" in _one_line(result)
    result = run("--admin-url", f"{name}=http://127.0.0.1:1", "loglevel", "ok")
    assert result.code == 2 and "not a valid Kubernetes name" in _one_line(result)


@pytest.mark.parametrize("command", sorted(c for c in ROWS if ROWS[c][0]))
def test_every_listed_output_is_printed(command, dead_cluster):
    """-o lists, per command, exactly the formats the command prints: none of them is
    refused later as "not available here"."""
    cmd = cli.get_command(None, command)  # type: ignore[arg-type]
    choices = next(p.type.choices for p in cmd.params if p.name == "output")
    assert set(choices) >= {"table", "json", "yaml"}
    for fmt in choices:
        result = run("--kubeconfig", dead_cluster, "--request-timeout", "2s", *ROWS[command][0],
                     "-o", fmt)
        assert "not available here" not in result.err, (fmt, result.err)
        assert result.code == 3, (fmt, result.code, result.err)
