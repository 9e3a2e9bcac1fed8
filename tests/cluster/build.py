"""Build the test cluster's binaries from the Go module proxy, once per machine.

kube-apiserver, kubectl (k8s.io/kubernetes) and etcd (go.etcd.io/etcd/server/v3) at the
versions go.mod pins, plus labnode (the kubelet stand-in of this folder). They land in a
cache outside the checkout, keyed by everything that decides their bytes (go.mod, go.sum,
labnode's sources, the Go version), so a second run on the machine starts in seconds. A
build goes to a temporary folder and is renamed into place under a lock, so concurrent
test runs never see half a cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BINARIES = ("kube-apiserver", "kubectl", "etcd", "labnode")


class BuildError(RuntimeError):
    """Go is missing, or a module would not download or compile."""


def go_command() -> str | None:
    return shutil.which("go")


def kubernetes_version() -> str:
    """The k8s.io/kubernetes version go.mod requires, e.g. v1.36.3."""
    text = (HERE / "go.mod").read_text()
    match = re.search(r"^\s*k8s\.io/kubernetes (v[0-9.]+)", text, re.M)
    if not match:
        raise BuildError("go.mod does not require k8s.io/kubernetes")
    return match.group(1)


def cache_root() -> Path:
    explicit = os.environ.get("MESHDEBUG_CLUSTER_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "kubectl-meshdebug" / "cluster"


def cache_key(go: str) -> str:
    digest = hashlib.sha256()
    sources = [HERE / "go.mod", HERE / "go.sum", *sorted((HERE / "labnode").glob("*.go"))]
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True)
    digest.update(version.stdout.encode())
    return digest.hexdigest()[:20]


def _version_flags(version: str) -> str:
    """The -X stamps upstream's hack/lib/version.sh sets, so /version tells the truth."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}",
                  f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
    return " ".join(flags)


def _build(go: str, out: Path, log: callable) -> None:
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local",
               GOFLAGS="-trimpath -mod=readonly -buildvcs=false")
    version = kubernetes_version()
    stamped = f"-s -w {_version_flags(version)}"
    targets = [
        ("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", stamped),
        ("kubectl", "k8s.io/kubernetes/cmd/kubectl", stamped),
        ("etcd", "go.etcd.io/etcd/server/v3", "-s -w"),
        ("labnode", "./labnode", "-s -w"),
    ]
    log(f"downloading Go modules for kubernetes {version} (first run on this machine only)")
    _run([go, "mod", "download"], env, log)
    for name, package, ldflags in targets:
        started = time.monotonic()
        log(f"building {name} ...")
        _run([go, "build", "-ldflags", ldflags, "-o", str(out / name), package], env, log)
        log(f"built {name} in {time.monotonic() - started:.0f}s")


def _run(argv: list[str], env: dict[str, str], log: callable) -> None:
    result = subprocess.run(argv, cwd=HERE, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise BuildError(f"{' '.join(argv[:3])} failed:\n" + "\n".join(tail))


def ensure_binaries(log: callable | None = None) -> Path:
    """The folder holding BINARIES, building them first if this machine lacks them."""
    log = log or (lambda msg: print(f"[cluster] {msg}", file=sys.stderr, flush=True))
    go = go_command()
    if go is None:
        raise BuildError("go is not on PATH: the cluster tests build kube-apiserver with it")
    root = cache_root()
    target = root / cache_key(go)
    if all((target / name).exists() for name in BINARIES):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all((target / name).exists() for name in BINARIES):
            return target
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix="build-", dir=root))
        try:
            _build(go, tmp, log)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log(f"cluster binaries ready in {time.monotonic() - started:.0f}s: {target}")
        _prune(root, keep=target)
    return target


def _prune(root: Path, keep: Path, spare: int = 1) -> None:
    """Drop all but the newest `spare` other builds (an older checkout may still use one)."""
    others = sorted((p for p in root.iterdir() if p.is_dir() and p != keep
                     and not p.name.startswith("build-")),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[spare:]:
        shutil.rmtree(old, ignore_errors=True)
