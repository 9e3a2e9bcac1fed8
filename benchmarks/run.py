"""Benchmarks: ratios against baselines measured in the same run. Never part of the tests.

    python benchmarks/run.py                 # everything (about 2-4 minutes on 2 cores)
    python benchmarks/run.py startup pods    # some of: startup scale pods
    python benchmarks/run.py scale --sizes 1000,5000

startup  `kubectl-meshdebug --help` (pip install and the single-file krew build) and
         `clusters --help` against `python -c 'import click'`
scale    istiod's rendering of a real sidecar repeated to 5k/20k services in a real Envoy:
         `clusters`, `routes`, `config-dump` (--dump, as Envoy writes it and minified) and
         --admin-url against json.load of the same file, collector on (as any program
         runs) and off (the floor); time and peak memory, medians of interleaved pairs
pods     `stats -l` and `sync -A` over 200 proxies (one Envoy behind a latency proxy)
         against (pods / concurrency) x one proxy's cost
live     through the tests' real API server and mesh (root, Go-built binaries): why-503,
         sync -A, clusters and config-dump against the kubectl commands they replace
sweep    `errors -A` over 500 real Envoys (300 clusters each, static config) against
         `xargs -P8 curl` of the same admin calls; peak memory against the answers' size
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = str(Path(sys.executable).parent / "kubectl-meshdebug")
TIME = shutil.which("time") or "/usr/bin/time"


def measure(argv: list[str], runs: int = 3, stdin: str | None = None,
            best: bool = False) -> tuple[float, int]:
    """(median, or with best=True the fastest, wall seconds; max peak RSS in KiB)."""
    walls, peaks = [], []
    for _ in range(runs):
        wall, peak = _once(argv, stdin)
        walls.append(wall)
        peaks.append(peak)
    return (min(walls) if best else statistics.median(walls)), max(peaks)


def _once(argv: list[str], stdin: str | None = None) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile("r") as stats:
        start = time.perf_counter()
        done = subprocess.run([TIME, "-f", "%M", "-o", stats.name, *argv],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              input=stdin, text=True)
        wall = time.perf_counter() - start
        if done.returncode not in (0, 1):  # 1: findings, a normal diagnosis
            raise SystemExit(f"benchmark command failed ({done.returncode}): "
                             f"{' '.join(argv[:6])} ...\n{done.stderr[-500:]}")
        return wall, int(Path(stats.name).read_text().split()[-1])


def pairs(base: list[str], argv: list[str], runs: int) -> tuple[float, float, int, int]:
    """BASE and ARGV run in turn RUNS times (interleaved, so that a slow moment of the
    machine hits both): (median ratio argv/base, median argv seconds, argv's and base's
    peak RSS in KiB)."""
    ratios, walls, peaks, base_peaks = [], [], [], []
    for _ in range(runs):
        base_wall, base_peak = _once(base)
        wall, peak = _once(argv)
        ratios.append(wall / base_wall)
        walls.append(wall)
        peaks.append(peak)
        base_peaks.append(base_peak)
    return statistics.median(ratios), statistics.median(walls), max(peaks), max(base_peaks)


def row(name: str, seconds: float, base: float, extra: str = "") -> None:
    print(f"  {name:<44} {seconds * 1000:8.0f} ms  {seconds / base:5.2f}x {extra}")


def startup(runs: int) -> None:
    """Measured on a regular (non-editable) install, as users get from pip, and on the
    single-file build krew installs (after its first run, which unpacks it once)."""
    print(f"startup (best of {runs} runs; target <= 1.3x the click floor)")
    target = Path(tempfile.mkdtemp(prefix="meshdebug-bench-install-"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(ROOT)], check=True,
                   capture_output=True)
    dist = Path(tempfile.mkdtemp(prefix="meshdebug-bench-dist-"))
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_dist.py"), "--out", str(dist),
                    "--manifest", ""], check=True, capture_output=True)
    pyz = str(dist / "kubectl-meshdebug.pyz")
    env_python = [sys.executable, "-c"]
    os.environ["PYTHONPATH"] = str(target)
    os.environ["KUBECTL_MESHDEBUG_CACHE"] = str(dist / "cache")
    try:
        subprocess.run([sys.executable, pyz, "--help"], check=True, capture_output=True)
        floor, _ = measure([*env_python, "import click"], runs, best=True)
        row("python -c 'import click' (floor)", floor, floor)
        script = "from kubectl_meshdebug.cli.main import main; main()"
        for args in (["--help"], ["clusters", "--help"], ["why-503", "--help"]):
            wall, _ = measure([*env_python, script, *args], runs, best=True)
            row("kubectl-meshdebug " + " ".join(args), wall, floor)
        del os.environ["PYTHONPATH"]
        wall, _ = measure([sys.executable, pyz, "--help"], runs, best=True)
        row("single-file (krew) build --help", wall, floor)
    finally:
        os.environ.pop("PYTHONPATH", None)
        del os.environ["KUBECTL_MESHDEBUG_CACHE"]
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(dist, ignore_errors=True)


def _load(path: Path, collector: bool) -> list[str]:
    """python reading PATH with json.load, the garbage collector on or off."""
    off = "" if collector else "import gc; gc.disable(); "
    return [sys.executable, "-c", f"{off}import json; json.load(open({str(path)!r}, 'rb'))"]


def scale(sizes: list[int], runs: int) -> None:
    from benchmarks.meshgen import start_envoy

    print("scale (targets: listings <= 1.0x json.load, minified <= 1.2x, memory of clusters "
          "-o json <= 1.2x json.load's, config-dump <= 1.5x; medians of interleaved pairs)")
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"meshdebug-bench-{n}-"))
        started = time.perf_counter()
        envoy = start_envoy(n, work)
        ready = time.perf_counter() - started
        try:
            url = envoy.admin_url
            dump = work / "config_dump.json"
            dump.write_bytes(urllib.request.urlopen(url + "/config_dump?include_eds",
                                                    timeout=300).read())
            minified = work / "config_dump.min.json"
            minified.write_text(json.dumps(json.loads(dump.read_bytes()), separators=(",", ":")))
            size = dump.stat().st_size
            print(f" {n} services: dump {size / 1e6:.1f} MB as Envoy writes it, "
                  f"{minified.stat().st_size / 1e6:.1f} MB minified; Envoy ready in {ready:.1f}s")
            on, on_rss = measure(_load(dump, True), runs)
            off, off_rss = measure(_load(dump, False), runs)
            print(f"  {'json.load, collector on (baseline)':<44} {on * 1000:8.0f} ms  "
                  f"peak {on_rss / 1024:.0f} MiB")
            print(f"  {'json.load, collector off (floor)':<44} {off * 1000:8.0f} ms  "
                  f"{off / on:5.2f}x")
            admin = ["--admin-url", f"bench/client={url}"]
            for label, base, argv in (
                ("clusters --dump (table)", dump, [BIN, "clusters", "--dump", str(dump)]),
                ("clusters --dump -o json", dump, [BIN, "clusters", "--dump", str(dump), "-o",
                                                   "json"]),
                ("clusters --dump (table), minified", minified, [BIN, "clusters", "--dump",
                                                                 str(minified)]),
                ("clusters --dump -o json, minified", minified, [BIN, "clusters", "--dump",
                                                                 str(minified), "-o", "json"]),
                ("routes --dump -o json", dump, [BIN, "routes", "--dump", str(dump), "-o",
                                                 "json"]),
                ("config-dump --dump (redacted, printed)", dump, [BIN, "config-dump", "--dump",
                                                                  str(dump)]),
                ("clusters --admin-url -o json", dump, [BIN, *admin, "clusters", "client", "-o",
                                                       "json"]),
                ("routes --admin-url -o json", dump, [BIN, *admin, "routes", "client", "-o",
                                                     "json"]),
                ("why-503 --admin-url", dump, [BIN, *admin, "why-503", "client",
                                               "svc1.ns1.svc.cluster.local:8000"]),
            ):
                ratio, wall, rss, base_rss = pairs(_load(base, True), argv, runs)
                print(f"  {label:<44} {wall * 1000:8.0f} ms  {ratio:5.2f}x  peak "
                      f"{rss / 1024:.0f} MiB = {rss / base_rss:.2f}x json.load's")
        finally:
            envoy.stop()
            shutil.rmtree(work, ignore_errors=True)


def pods(count: int, concurrency: int, delay: float) -> None:
    import yaml

    from benchmarks.latency_proxy import LatencyProxy
    from kubectl_meshdebug.lab.scenarios import SCENARIOS

    print(f"many pods ({count} proxies, {delay * 1000:.0f} ms injected per admin call, "
          f"--concurrency {concurrency}; target close to (pods / concurrency) x one proxy)")
    mesh = SCENARIOS["healthy"].build()
    with mesh:
        proxy = LatencyProxy(mesh.envoys["sleep"].admin, delay)
        work = Path(tempfile.mkdtemp(prefix="meshdebug-bench-pods-"))
        def manifest(n: int) -> list[str]:
            pods_yaml = [{"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": f"p{i:03d}", "namespace": "bench",
                                       "labels": {"app": "bench"}},
                          "spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]},
                          "status": {"phase": "Running"}} for i in range(n)]
            path = work / f"pods-{n}.yaml"
            path.write_text(yaml.safe_dump_all(pods_yaml))
            urls = [a for i in range(n) for a in ("--admin-url",
                                                   f"bench/p{i:03d}={proxy.url}/p{i:03d}")]
            return [*urls, "-f", str(path), "-n", "bench"]

        conc = ["--concurrency", str(concurrency)]
        for label, args in (("stats -l app=bench", ["stats", "-l", "app=bench", "--filter",
                                                    "^server.live$", "-o", "json", *conc]),
                            ("sync -A", ["sync", "-A", "-o", "json", *conc])):
            # one round (concurrency pods) and two rounds give the cost of a round
            one, _ = measure([BIN, *manifest(concurrency), *args], runs=3)
            two, _ = measure([BIN, *manifest(2 * concurrency), *args], runs=3)
            rounds = math.ceil(count / concurrency)
            per_round = max(two - one, 1e-3)
            expected = one + (rounds - 1) * per_round
            wall, _ = measure([BIN, *manifest(count), *args], runs=1)
            row(f"{label} over {count}", wall, expected,
                f"(expected {expected:.2f}s = 1 round {one:.2f}s + {rounds - 1} x "
                f"{per_round * 1000:.0f} ms)")
        proxy.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def sweep(count: int, clusters: int, runs: int) -> None:
    from benchmarks.sweep import Fleet, answer_bytes

    print(f"sweep ({count} real Envoys, {clusters} clusters each; target <= 1.0x the "
          "xargs -P8 curl floor)")
    fleet = Fleet(count, clusters)
    try:
        started = time.perf_counter()
        fleet.start()
        print(f"  ({count} Envoys started in {time.perf_counter() - started:.0f}s)")
        urls = fleet.curl_urls()
        floor, _ = measure(["sh", "-c", f"xargs -P8 -n1 curl -s -o /dev/null < {urls}"], runs)
        row(f"xargs -P8 curl, 3 admin calls x {count} (floor)", floor, floor)
        size = answer_bytes(fleet)
        for n in sorted({max(1, count // 5), count}):
            pods_yaml, admin_urls = fleet.manifests(n)
            args = [BIN, "errors", "-A", "-f", str(pods_yaml), *admin_urls,
                    "--concurrency", "8", "-o", "json"]
            wall, peak = measure(args, runs)
            if n == count:
                row(f"errors -A over {n}", wall, floor,
                    f"peak {peak / 1024:.0f} MiB; the answers are {size / 2 ** 20:.0f} MiB")
            else:
                print(f"  {'errors -A over ' + str(n):<44} {wall * 1000:8.0f} ms          "
                      f"peak {peak / 1024:.0f} MiB (memory follows what is kept, not the "
                      "answers)")
    finally:
        fleet.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", default=["startup", "scale", "pods", "sweep", "live"])
    parser.add_argument("--sizes", default="5000,20000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--fleet", type=int, default=500, help="Envoys for sweep")
    parser.add_argument("--fleet-clusters", type=int, default=300)
    args = parser.parse_args()
    # Users' installs have bytecode: measure with it, whatever this shell says.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    import compileall

    compileall.compile_dir(str(ROOT / "kubectl_meshdebug"), quiet=1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    if "startup" in args.which:
        startup(max(args.runs, 7))
    if "scale" in args.which:
        scale([int(s) for s in args.sizes.split(",")], args.runs)
    if "pods" in args.which:
        pods(args.pods, args.concurrency, args.delay)
    if "sweep" in args.which:
        sweep(args.fleet, args.fleet_clusters, args.runs)
    if "live" in args.which:
        from benchmarks.live import live

        live(max(args.runs, 5))
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
