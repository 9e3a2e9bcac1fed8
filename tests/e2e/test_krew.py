"""The krew artifact: built reproducibly, plugin.yaml checked rule by rule as krew's validator
does, unpacked the way krew does, found and run by the real kubectl (plugin discovery and
completion)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import build_dist  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    result = build_dist.build(out, None)
    plugin = yaml.safe_load((out / "plugin.yaml").read_text())
    return out, result, plugin


def test_build_is_reproducible(built, tmp_path):
    _, first, _ = built
    again = build_dist.build(tmp_path, None)
    assert again["sha256"] == first["sha256"]


# --- krew's validation rules, one case each ------------------------------------------------

SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def _platforms(plugin):
    return plugin["spec"]["platforms"]


RULES = {
    "apiVersion and kind": lambda p, a: p["apiVersion"] ==
    "krew.googlecontainertools.github.com/v1alpha2" and p["kind"] == "Plugin",
    "name is a valid plugin name": lambda p, a: re.fullmatch(r"[a-z0-9][a-z0-9-]*",
                                                              p["metadata"]["name"]),
    "version is v-prefixed full semver": lambda p, a: SEMVER.match(p["spec"]["version"]),
    "shortDescription is one line under 50 chars": lambda p, a: (
        "\n" not in p["spec"]["shortDescription"].strip()
        and 0 < len(p["spec"]["shortDescription"]) < 50),
    "description is set": lambda p, a: p["spec"]["description"].strip(),
    "caveats name the python3 needed": lambda p, a: re.search(
        r"python3 >= \d+\.\d+", p["spec"]["caveats"]),
    "homepage is https": lambda p, a: p["spec"]["homepage"].startswith("https://"),
    "every platform has a non-empty os/arch selector": lambda p, a: all(
        pl["selector"] and all(e["key"] in ("os", "arch") for e in
                               pl["selector"].get("matchExpressions", []))
        and all(k in ("os", "arch") for k in pl["selector"].get("matchLabels", {}))
        for pl in _platforms(p)),
    "sha256 is 64 lowercase hex of the artifact": lambda p, a: all(
        re.fullmatch(r"[0-9a-f]{64}", pl["sha256"])
        and pl["sha256"] == hashlib.sha256(a.read_bytes()).hexdigest() for pl in _platforms(p)),
    "uri is a .tar.gz or .zip": lambda p, a: all(
        pl["uri"].endswith((".tar.gz", ".zip")) for pl in _platforms(p)),
    "files have clean from/to": lambda p, a: all(
        f.get("from") and f.get("to") and not Path(f["from"]).is_absolute()
        and ".." not in Path(f["from"]).parts and ".." not in Path(f["to"]).parts
        and not Path(f["to"]).is_absolute()
        for pl in _platforms(p) for f in pl["files"]),
    "bin stays inside the install folder": lambda p, a: all(
        not Path(pl["bin"]).is_absolute() and ".." not in Path(pl["bin"]).parts
        for pl in _platforms(p)),
    "the archive holds regular files, bin and LICENSE": lambda p, a: _archive_ok(p, a),
}


def _archive_ok(plugin, archive: Path) -> bool:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        names = {m.name for m in members}
        return (all(m.isfile() for m in members) and "LICENSE" in names
                and all(pl["bin"] in names for pl in _platforms(plugin)))


@pytest.mark.parametrize("rule", sorted(RULES))
def test_manifest_rule(built, rule):
    out, result, plugin = built
    assert RULES[rule](plugin, Path(result["archive"]))


def test_committed_manifest_follows_the_static_rules():
    plugin = yaml.safe_load((ROOT / "plugin.yaml").read_text())
    for rule, check in RULES.items():
        if "artifact" in rule or "archive" in rule:
            continue
        assert check(plugin, None), rule
    assert re.fullmatch(r"[0-9a-f]{64}", _platforms(plugin)[0]["sha256"])


def test_pyz_has_no_native_code(built):
    import io
    import zipfile

    out, result, _ = built
    with zipfile.ZipFile(result["pyz"]) as zf:
        assert sorted(zf.namelist()) == ["__main__.py", "lib.zip"]  # a short directory
        packages = zf.read("lib.zip")
    with zipfile.ZipFile(io.BytesIO(packages)) as zf:
        names = zf.namelist()
    assert "lib/kubectl_meshdebug/cli/main.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))]


# --- installed the way krew does, run by the real kubectl ----------------------------------

@pytest.fixture(scope="module")
def krew_install(built, tmp_path_factory, kubectl_binary):
    """Unpack per `files`, link `bin` as kubectl-<name> in a bin folder on PATH."""
    out, result, plugin = built
    root = tmp_path_factory.mktemp("krew")
    store = root / "store" / "meshdebug" / plugin["spec"]["version"]
    staging = root / "staging"
    with tarfile.open(result["archive"]) as tar:
        tar.extractall(staging, filter="data")
    platform = _platforms(plugin)[0]
    for spec in platform["files"]:
        for src in staging.glob(spec["from"]):
            dest = store / spec["to"] / src.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    bindir = root / "bin"
    bindir.mkdir()
    (bindir / "kubectl-meshdebug").symlink_to(store / platform["bin"])
    completion = bindir / "kubectl_complete-meshdebug"  # as docs/completion.md says
    completion.write_text('#!/bin/sh\nexec kubectl-meshdebug __complete "$@"\n')
    completion.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(root / "home"), "KUBECONFIG": str(root / "no-kubeconfig"),
           "MESHDEBUG_TEST_KUBECTL": kubectl_binary}
    return env


def _kubectl(env, *args):
    return subprocess.run([env["MESHDEBUG_TEST_KUBECTL"], *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_kubectl_plugin_list_finds_it(krew_install):
    result = _kubectl(krew_install, "plugin", "list")
    assert "kubectl-meshdebug" in result.stdout, result.stdout + result.stderr


def test_kubectl_meshdebug_help_runs_the_single_file(krew_install):
    result = _kubectl(krew_install, "meshdebug", "--help")
    assert result.returncode == 0, result.stderr
    assert "why-503" in result.stdout and "Usage: kubectl meshdebug" in result.stdout
    again = _kubectl(krew_install, "meshdebug", "audit", "--help")  # from the cache now
    assert again.returncode == 0 and "--all-namespaces" in again.stdout


def test_explain_reads_the_pages_the_single_file_carries(krew_install):
    result = _kubectl(krew_install, "meshdebug", "explain", "dr-tls-overrides-mtls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# `dr-tls-overrides-mtls`: ") and "## The fix" in result.stdout


def test_kubectl_completes_commands(krew_install):
    result = _kubectl(krew_install, "__complete", "meshdebug", "")
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == ":4", result.stdout + result.stderr
    names = {line.split("\t")[0] for line in lines[:-1]}
    assert {"why-503", "loglevel", "audit", "demo"} <= names


def test_kubectl_completes_log_levels_and_flags(krew_install):
    result = _kubectl(krew_install, "__complete", "meshdebug", "loglevel", "sleep", "")
    names = {line.split("\t")[0] for line in result.stdout.strip().splitlines()[:-1]}
    assert {"trace", "debug", "warning", "off"} <= names
    flags = _kubectl(krew_install, "__complete", "meshdebug", "stats", "--fi")
    assert flags.stdout.startswith("--filter")


def _pyz(env, python, *args, extra_env=None):
    out = Path(env["PATH"].split(os.pathsep)[0]) / "kubectl-meshdebug"
    return subprocess.run([python, str(out.resolve()), *args], env={**env, **(extra_env or {})},
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("version", ["3.9", "3.10"])
def test_an_older_python_is_told_in_one_line(krew_install, version):
    candidates = [shutil.which(f"python{version}")] + sorted(
        str(p) for p in Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    python = next((c for c in candidates if c and subprocess.run(
        [c, "-c", "pass"], capture_output=True).returncode == 0), None)
    if python is None:
        pytest.skip(f"no python{version} here")
    result = _pyz(krew_install, python, "--help")
    assert result.returncode == 2
    assert result.stderr.startswith("error: kubectl-meshdebug needs python3 >= 3.11;"), \
        result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bytecode_is_cached_without_writing_it(krew_install):
    """PYTHONDONTWRITEBYTECODE (common in containers) must not mean compiling every run:
    the first run compiles the extracted packages once."""
    env = {**krew_install, "HOME": krew_install["HOME"] + "-nobytecode"}
    first = _pyz(env, sys.executable, "--help", extra_env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert first.returncode == 0, first.stderr
    cache = Path(env["HOME"]) / ".cache" / "kubectl-meshdebug"
    [build] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert (build / ".complete").exists()
    assert list((build / "kubectl_meshdebug" / "cli").glob("__pycache__/main.*.pyc"))
    assert list((build / "click").glob("__pycache__/*.pyc"))


def test_a_cache_it_cannot_write_still_runs_and_leaves_nothing(krew_install, tmp_path):
    """A read-only home: the packages go to a temporary folder that is gone afterwards."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = _pyz(krew_install, sys.executable, "clusters", "--dump",
                  str(ROOT / "tests" / "data" / "istio" / "config_dump" / "sidecar" /
                      "productpage-v1-automtls-istio1.4.json"),
                  extra_env={"KUBECTL_MESHDEBUG_CACHE": os.devnull + "/cache",
                             "TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr
    assert "reviews.default.svc.cluster.local" in result.stdout
    assert list(scratch.iterdir()) == []


def test_every_runtime_dependency_is_in_the_single_file(krew_install, tmp_path):
    """errors reads istio_requests_total with prometheus-client: the .pyz must carry it."""
    result = _pyz(krew_install, sys.executable, "errors", "-A", "-f",
                  str(ROOT / "tests" / "data" / "no-sidecar-client.yaml"))
    assert "No module named" not in result.stderr and "internal error" not in result.stderr
    importing = _pyz(krew_install, sys.executable, "config-dump", "--dump",
                     str(ROOT / "tests" / "data" / "no-such-file.json"))
    assert importing.returncode == 2


def test_committed_plugin_yaml_is_what_make_dist_builds(tmp_path):
    """The sha256 krew checks must be the sha256 of the artifact `make dist` builds from a
    clean clone: the pinned, hashed dependencies in a fresh venv, this checkout's code."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--require-hashes",
                          "--no-deps", "-r", str(ROOT / "requirements" / "dist.txt")],
                         capture_output=True, text=True, timeout=600)
    if pip.returncode != 0 and ("Could not find" in pip.stderr or "NewConnection" in
                                pip.stderr or "Network" in pip.stderr):
        pytest.skip("the package index is not reachable: " + pip.stderr.strip()[-200:])
    assert pip.returncode == 0, pip.stderr
    built = subprocess.run([str(venv / "bin" / "python"), str(ROOT / "tools" / "build_dist.py"),
                            "--out", str(tmp_path / "dist"), "--manifest", ""],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    sha = next(line.split(": ", 1)[1] for line in built.stdout.splitlines()
               if line.startswith("sha256: "))
    committed = yaml.safe_load((ROOT / "plugin.yaml").read_text())
    assert _platforms(committed)[0]["sha256"] == sha, \
        "plugin.yaml is stale: run `make dist` and commit plugin.yaml"
    assert (tmp_path / "dist" / "plugin.yaml").read_text() == (ROOT / "plugin.yaml").read_text()
