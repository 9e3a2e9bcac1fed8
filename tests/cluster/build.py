"""Build the test cluster's binaries from the Go module proxy, once per machine.

Two sets, each from its own Go module and cached on its own:
- the cluster (this folder's go.mod): kube-apiserver, kube-controller-manager, kubectl
  (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3) and labnode (the kubelet stand-in);
- Istio (../istio/go.mod): pilot-discovery (istiod), pilot-agent and istioctl from
  istio.io/istio at the pinned commit, with that commit's CRDs and Envoy bootstrap template.

They land in a cache outside the checkout, keyed by everything that decides their bytes
(go.mod, go.sum, labnode's sources, the Go version), so a second run on the machine starts
in seconds. A build goes to a temporary folder and is renamed into place under a lock, so
concurrent test runs never see half a cache. A cold build takes about 10 minutes on 2
cores and leaves about 3 GB in Go's module and build caches (~/go/pkg/mod, ~/.cache/go-build).
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
ISTIO_MODULE = HERE.parent / "istio"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kubectl", "etcd", "labnode")
ISTIO_BINARIES = ("pilot-discovery", "pilot-agent", "istioctl")
# Files of the istio.io/istio module kept beside its binaries (relative to the module).
ISTIO_FILES = {"crd-all.gen.yaml": "manifests/charts/base/files/crd-all.gen.yaml",
               "envoy_bootstrap.json": "tools/packaging/common/envoy_bootstrap.json"}


class BuildError(RuntimeError):
    """Go is missing, or a module would not download or compile."""


def go_command() -> str | None:
    return shutil.which("go")


def required_version(module: Path, path: str) -> str:
    """The version of `path` that module's go.mod requires."""
    text = (module / "go.mod").read_text()
    match = re.search(rf"^\s*{re.escape(path)} (v\S+)", text, re.M)
    if not match:
        raise BuildError(f"{module.name}/go.mod does not require {path}")
    return match.group(1)


def kubernetes_version() -> str:
    """The k8s.io/kubernetes version go.mod requires, e.g. v1.36.3."""
    return required_version(HERE, "k8s.io/kubernetes")


def cache_root() -> Path:
    explicit = os.environ.get("MESHDEBUG_CLUSTER_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "kubectl-meshdebug" / "cluster"


def istio_version() -> str:
    """The istio.io/istio pseudo-version ../istio/go.mod pins."""
    return required_version(ISTIO_MODULE, "istio.io/istio")


def istio_release() -> str:
    """What `istioctl version` reports for the pinned commit: master of that day, which
    became Istio 1.31 (1.31-alpha.<commit>)."""
    return "1.31-alpha." + istio_version().rsplit("-", 1)[1][:12]


def cache_key(go: str, module: Path = HERE) -> str:
    digest = hashlib.sha256()
    sources = [module / "go.mod", module / "go.sum", *sorted((module / "labnode").glob("*.go"))]
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


def _go_env() -> dict[str, str]:
    return dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local",
                GOFLAGS="-trimpath -mod=readonly -buildvcs=false")


def _build(go: str, out: Path, log: callable) -> None:
    env = _go_env()
    version = kubernetes_version()
    stamped = f"-s -w {_version_flags(version)}"
    targets = [
        ("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", stamped),
        ("kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager", stamped),
        ("kubectl", "k8s.io/kubernetes/cmd/kubectl", stamped),
        ("etcd", "go.etcd.io/etcd/server/v3", "-s -w"),
        ("labnode", "./labnode", "-s -w"),
    ]
    log(f"downloading Go modules for kubernetes {version} (first run on this machine only)")
    _run([go, "mod", "download"], env, log, HERE)
    for name, package, ldflags in targets:
        _go_build(go, name, ["-ldflags", ldflags, "-o", str(out / name), package], env, log, HERE)


def _build_istio(go: str, out: Path, log: callable) -> None:
    """istiod, pilot-agent and istioctl with the build tags of Istio's Makefile, stamped
    with the version `istioctl version` reports; then the module's CRDs and bootstrap."""
    env = _go_env()
    version = istio_version()
    ldflags = f"-s -w -X istio.io/istio/pkg/version.buildVersion={istio_release()}"
    log(f"downloading Go modules for istio.io/istio {version} (first run on this machine only)")
    _run([go, "mod", "download"], env, log, ISTIO_MODULE)
    targets = [
        ("pilot-agent", "agent,disable_pgv,grpcnotrace,retrynotrace",
         "istio.io/istio/pilot/cmd/pilot-agent"),
        ("pilot-discovery", "vtprotobuf,disable_pgv", "istio.io/istio/pilot/cmd/pilot-discovery"),
        ("istioctl", "vtprotobuf,disable_pgv", "istio.io/istio/istioctl/cmd/istioctl"),
    ]
    for name, tags, package in targets:
        _go_build(go, name, ["-tags", tags, "-ldflags", ldflags, "-o", str(out / name), package],
                  env, log, ISTIO_MODULE)
    found = subprocess.run([go, "list", "-m", "-f", "{{.Dir}}", "istio.io/istio"],
                           cwd=ISTIO_MODULE, env=env, capture_output=True, text=True)
    source = Path(found.stdout.strip())
    if found.returncode != 0 or not source.is_dir():
        raise BuildError(f"go list -m istio.io/istio failed: {found.stderr.strip()[-300:]}")
    for name, relative in ISTIO_FILES.items():
        shutil.copyfile(source / relative, out / name)


def _go_build(go: str, name: str, args: list[str], env: dict[str, str], log: callable,
              cwd: Path) -> None:
    """One `go build`, saying every 30 s that it is still going (a cold kube-apiserver or
    pilot-discovery takes minutes on 2 cores, and silence looks like a hang)."""
    import threading

    started = time.monotonic()
    log(f"building {name} ...")
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(30):
            log(f"  still building {name} ({time.monotonic() - started:.0f}s)")

    ticker = threading.Thread(target=heartbeat, daemon=True)
    ticker.start()
    try:
        _run([go, "build", *args], env, log, cwd)
    finally:
        done.set()
    log(f"built {name} in {time.monotonic() - started:.0f}s")


def _run(argv: list[str], env: dict[str, str], log: callable, cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise BuildError(f"{' '.join(argv[:3])} failed:\n" + "\n".join(tail))


def _default_log(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


def ensure_binaries(log: callable | None = None) -> Path:
    """The folder holding BINARIES, building them first if this machine lacks them."""
    return _ensure("cluster", HERE, BINARIES, _build, log or _default_log)


def ensure_istio(log: callable | None = None) -> Path:
    """The folder holding ISTIO_BINARIES and ISTIO_FILES, built on first use."""
    return _ensure("istio", ISTIO_MODULE, ISTIO_BINARIES + tuple(ISTIO_FILES), _build_istio,
                   log or _default_log)


def _ensure(kind: str, module: Path, names: tuple[str, ...], build: callable,
            log: callable) -> Path:
    go = go_command()
    if go is None:
        raise BuildError("go is not on PATH: the cluster tests build kube-apiserver with it")
    root = cache_root() if kind == "cluster" else cache_root().parent / kind
    target = root / cache_key(go, module)
    if all((target / name).exists() for name in names):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all((target / name).exists() for name in names):
            return target
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix="build-", dir=root))
        try:
            build(go, tmp, log)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log(f"{kind} binaries ready in {time.monotonic() - started:.0f}s: {target}")
        _prune(root, keep=target)
    return target


def _prune(root: Path, keep: Path, spare: int = 1) -> None:
    """Drop all but the newest `spare` other builds (an older checkout may still use one)."""
    others = sorted((p for p in root.iterdir() if p.is_dir() and p != keep
                     and not p.name.startswith("build-")),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[spare:]:
        shutil.rmtree(old, ignore_errors=True)
