"""A ~20 MB /config_dump read three ways, on the real test cluster (tests/cluster):
exec (pilot-agent in the proxy container, through the API server and the node), port-forward
(through the API server and the node), and directly (the baseline: Envoy's admin port).

    python benchmarks/transports.py [--services 4500] [--runs 5]

Prints the median seconds of each way and its ratio to the direct read, plus the bytes.
The default transport (transport/choose.py) follows what this prints.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(work) -> tuple[float, int]:
    started = time.perf_counter()
    size = len(work())
    return time.perf_counter() - started, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=4500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    from benchmarks.meshgen import start_envoy
    from kubectl_meshdebug.kube.client import Connection, KubeConfig
    from kubectl_meshdebug.lab.mesh import free_block
    from kubectl_meshdebug.transport.choose import direct_transport, pod_transport
    from tests.cluster.build import ensure_binaries
    from tests.cluster.controlplane import NODE, ControlPlane
    from tests.cluster.labcluster import pod_status

    work = Path(tempfile.mkdtemp(prefix="meshdebug-bench-transports-"))
    address = f"127.{free_block()}.0.2"
    cp = ControlPlane(work / "cluster", ensure_binaries())
    envoy = None
    try:
        cp.start()
        envoy = start_envoy(args.services, work / "envoy", address)
        cp.ensure_namespace("bench")
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "client", "namespace": "bench"},
               "spec": {"nodeName": NODE, "containers": [
                   {"name": "app", "image": "app"},
                   {"name": "istio-proxy", "image": "proxyv2"}]},
               "status": {"phase": "Running", "podIP": address}}
        assert cp.api is not None
        cp.api.create({k: v for k, v in pod.items() if k != "status"})
        cp.api.patch_status("Pod", "bench", "client", pod_status(pod))
        connection = Connection(KubeConfig(str(cp.workdir / "kubeconfig-admin"), None, 300))
        ways = {
            "direct (--admin-url)": direct_transport(f"http://{address}:15000"),
            "port-forward": pod_transport(connection, "bench", "client", kind="port-forward",
                                          container="istio-proxy", port=15000),
            "exec (pilot-agent)": pod_transport(connection, "bench", "client", kind="exec",
                                                container="istio-proxy", port=15000),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        sizes: dict[str, int] = {}
        ways["direct (--admin-url)"].request("GET", "/config_dump", 300)  # warm Envoy up
        for _ in range(args.runs):  # interleaved, so that drift hits every way alike
            for name, transport in ways.items():
                seconds, sizes[name] = _timed(
                    lambda t=transport: t.request("GET", "/config_dump", 300).body)
                times[name].append(seconds)
        base = statistics.median(times["direct (--admin-url)"])
        print(f"/config_dump of {args.services} services, median of {args.runs}:")
        for name in ways:
            seconds = statistics.median(times[name])
            print(f"  {name:<22} {seconds:7.2f} s  {seconds / base:6.2f}x  "
                  f"{sizes[name] / 1e6:6.1f} MB")
    finally:
        if envoy is not None:
            envoy.stop()
        cp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
