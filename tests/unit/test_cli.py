"""The command line itself: help, entry points, lazy imports, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kubectl_meshdebug.cli.main import COMMANDS
from tests.helpers import run


def test_help_lists_every_command_with_examples():
    result = run("--help")
    assert result.code == 0
    for name in COMMANDS:
        assert name in result.out
    assert "Examples:" in result.out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_with_examples(command):
    result = run(command, "--help")
    assert result.code == 0, result.err
    assert "Examples:" in result.out and "kubectl meshdebug" in result.out
    for flag in ("--namespace", "--context", "--kubeconfig", "--admin-url", "--manifests"):
        assert flag in result.out


def test_help_does_not_import_the_kubernetes_client():
    code = ("import sys\nfrom kubectl_meshdebug.cli.main import main\n"
            "try:\n    main(['clusters', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('kubernetes', 'urllib3', 'yaml', 'tabulate', 'jsonpath_ng')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "kubectl_meshdebug", "--version"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "kubectl-meshdebug" in out.stdout


def test_flags_after_the_command_reach_the_runtime(tmp_path):
    # -n after the command name, as kubectl plugins are used; the target is offline
    manifest = tmp_path / "pods.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\n"
                        "spec: {containers: [{name: app}]}\nstatus: {phase: Running}\n")
    result = run("clusters", "web", "-f", manifest, "-n", "shop")
    assert result.code == 2
    assert "pod shop/web has no istio-proxy container" in result.err


@pytest.mark.parametrize("args,code,text", [
    (["clusters"], 2, "name a POD"),
    (["clusters", "--dump", "/nonexistent.json"], 2, "No such file"),
    (["loglevel", "a", "b", "c"], 2, "too many arguments"),
    (["clusters", "deploy/"], 2, "not TYPE/NAME"),
    (["clusters", "job/x"], 2, "unsupported target type"),
    (["--admin-url", "nonsense", "clusters", "x"], 2, "[NS/]POD=URL"),
    (["-o", "prometheus", "clusters", "x"], 2, "-o prometheus is not available"),
])
def test_errors_are_one_line_with_exit_codes(args, code, text):
    result = run(*args)
    assert result.code == code
    assert text in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err


def test_dump_file_errors(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\x00\xff\x00")
    truncated = tmp_path / "trunc.json"
    truncated.write_text('{"configs": [{"@type": "x"')
    wrong = tmp_path / "list.json"
    wrong.write_text("[1, 2]")
    clusters = tmp_path / "clusters.json"
    clusters.write_text('{"cluster_statuses": []}')
    for path, text in ((empty, "is empty"), (binary, "not"), (truncated, "not valid JSON"),
                       (wrong, "not an Envoy config dump"), (clusters, "this is /clusters output")):
        result = run("clusters", "--dump", path)
        assert result.code == 2, path
        assert text in result.err and len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_imports_only_click_and_the_cli_layer(command):
    code = ("import sys\nfrom kubectl_meshdebug.cli.main import main\n"
            f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('kubectl_meshdebug.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    loaded = set(eval(out.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own output
    module = COMMANDS[command][0]
    allowed = {"kubectl_meshdebug.cli", "kubectl_meshdebug.cli.main",
               "kubectl_meshdebug.cli.options", "kubectl_meshdebug.cli.common",
               f"kubectl_meshdebug.cli.{module}", "kubectl_meshdebug.cli.proxyconfig",
               "kubectl_meshdebug.render", "kubectl_meshdebug.render.formats",
               "kubectl_meshdebug.render.output", "kubectl_meshdebug.errors",
               "kubectl_meshdebug.inputs", "kubectl_meshdebug.text"}
    assert loaded - allowed == set()
    assert f"kubectl_meshdebug.cli.{module}" in loaded  # the test saw the command load


def test_namespace_from_several_kubeconfig_files(tmp_path, monkeypatch):
    """KUBECONFIG with several paths: the first current-context wins, as in kubectl."""
    from kubectl_meshdebug.kube.client import KubeConfig, current_namespace

    first = tmp_path / "a.yaml"
    first.write_text("apiVersion: v1\nkind: Config\ncurrent-context: dev\n")
    second = tmp_path / "b.yaml"
    second.write_text("apiVersion: v1\nkind: Config\ncontexts:\n- name: dev\n  context:\n"
                      "    cluster: c\n    namespace: payments\n- name: prod\n  context:\n"
                      "    cluster: p\n    namespace: shop\n")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert current_namespace(KubeConfig()) == "payments"
    assert current_namespace(KubeConfig(context="prod")) == "shop"
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing.yaml"))
    assert current_namespace(KubeConfig()) == "default"
