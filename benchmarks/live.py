"""Live rows: meshdebug through a real API server against the kubectl commands it replaces.

The tests' cluster (tests/cluster: kube-apiserver, etcd, the labnode kubelet, istiod and
the scenario's pods with their own network namespaces and Envoys configured by istiod)
is started with `python -m tests.cluster up`, so it needs root and the Go-built binaries
(`python -m tests.cluster build`). Each row runs the manual way and meshdebug in turn
(interleaved), medians of the ratios.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "four-services"
CLIENT, NAMESPACE, TARGET, SERVER = "sleep", "foo", "reviews.foo:9080", "reviews-v1"


def _manual_why503() -> str:
    """What an operator runs by hand for one failing call: both proxies' config, the
    client's stats, both proxies' logs, the Istio objects and the workloads."""
    exec_ = "kubectl exec -n foo {pod} -c istio-proxy -- pilot-agent request GET {path}"
    return "\n".join([
        exec_.format(pod=CLIENT, path="config_dump"),
        exec_.format(pod=CLIENT, path="stats"),
        exec_.format(pod=SERVER, path="config_dump"),
        f"kubectl logs -n foo {CLIENT} -c istio-proxy --tail 1000",
        f"kubectl logs -n foo {SERVER} -c istio-proxy --tail 1000",
        "kubectl get destinationrules,virtualservices,peerauthentications -A -o yaml",
        "kubectl get services,pods -n foo -o yaml",
    ]).replace("\n", " >/dev/null 2>&1\n") + " >/dev/null 2>&1"


ALL_DUMPS = ("kubectl get pods -A -l security.istio.io/tlsMode=istio -o jsonpath="
             "'{range .items[*]}{.metadata.namespace} {.metadata.name}{\"\\n\"}{end}' | "
             "xargs -P8 -n2 sh -c 'kubectl exec -n $0 $1 -c istio-proxy -- pilot-agent "
             "request GET config_dump >/dev/null 2>&1'")
ONE_DUMP = (f"kubectl exec -n {NAMESPACE} {CLIENT} -c istio-proxy -- pilot-agent request GET "
            "config_dump >/dev/null 2>&1")


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, timeout=300)
    if done.returncode not in (0, 1):
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr[-400:]}")
    return time.perf_counter() - start


def _execs(workdir: Path) -> int:
    log = workdir / "logs" / "exec.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


def live(runs: int) -> None:
    if os.geteuid() != 0:
        print("live: skipped (needs root for the pods' network namespaces)")
        return
    workdir = Path(tempfile.mkdtemp(prefix="meshdebug-bench-live-"))
    py = sys.executable
    up = subprocess.run([py, "-m", "tests.cluster", "up", str(workdir), "--scenario", SCENARIO],
                        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    try:
        if up.returncode != 0:
            raise SystemExit(f"cluster up failed:\n{up.stdout[-800:]}{up.stderr[-800:]}")
        kubectl_dir = next(Path.home().glob(".cache/kubectl-meshdebug/cluster/*/kubectl")).parent
        env = {**os.environ, "KUBECONFIG": str(workdir / "kubeconfig"),
               "PATH": os.pathsep.join([str(Path(py).parent), str(kubectl_dir),
                                        os.environ.get("PATH", "")])}
        print(f"live ({SCENARIO} on the tests' real mesh through kube-apiserver; medians of "
              f"{runs} interleaved pairs; targets: why-503 and sync -A <= 1.5x)")
        md = ["kubectl", "meshdebug"]
        rows = [
            ("why-503 --logs vs the manual sequence", ["sh", "-c", _manual_why503()],
             [*md, "why-503", CLIENT, TARGET, "-n", NAMESPACE, "--logs"]),
            ("sync -A vs xargs -P8 kubectl exec config_dump", ["sh", "-c", ALL_DUMPS],
             [*md, "sync", "-A"]),
            ("clusters (exec) vs kubectl exec config_dump", ["sh", "-c", ONE_DUMP],
             [*md, "clusters", CLIENT, "-n", NAMESPACE]),
            ("clusters (port-forward)", ["sh", "-c", ONE_DUMP],
             [*md, "clusters", CLIENT, "-n", NAMESPACE, "--transport", "port-forward"]),
            ("config-dump (exec)", ["sh", "-c", ONE_DUMP],
             [*md, "config-dump", CLIENT, "-n", NAMESPACE]),
            ("config-dump (port-forward)", ["sh", "-c", ONE_DUMP],
             [*md, "config-dump", CLIENT, "-n", NAMESPACE, "--transport", "port-forward"]),
        ]
        for label, manual, ours in rows:
            _timed(ours, env)  # warm-up: bytecode, the API server's caches
            ratios, walls, bases, execs = [], [], [], []
            for _ in range(runs):
                base = _timed(manual, env)
                before = _execs(workdir)
                wall = _timed(ours, env)
                execs.append(_execs(workdir) - before)
                ratios.append(wall / base)
                walls.append(wall)
                bases.append(base)
            print(f"  {label:<48} {statistics.median(walls) * 1000:6.0f} ms vs "
                  f"{statistics.median(bases) * 1000:6.0f} ms  {statistics.median(ratios):5.2f}x"
                  f"  ({max(execs)} execs)")
        print(json.dumps({"live": "done"}))
    finally:
        subprocess.run([py, "-m", "tests.cluster", "down", str(workdir)], cwd=ROOT,
                       capture_output=True, timeout=300)
        shutil.rmtree(workdir, ignore_errors=True)
