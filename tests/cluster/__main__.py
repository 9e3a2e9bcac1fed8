"""Drive the test cluster by hand.

    python -m tests.cluster build                 # build or reuse the binaries, print where
    python -m tests.cluster up DIR [--scenario S] # start it (and a scenario), return when ready
    python -m tests.cluster down DIR              # stop everything `up` started
    python -m tests.cluster record [NAME ...]     # re-record what istiod sends the lab

`up` starts etcd, kube-apiserver, kube-controller-manager, labnode and, as root, istiod
with the scenario's pods in their own network namespaces (a real mesh: tests/cluster/
istiomesh.py); it returns once the sidecars are in sync and the scenario's calls were
sent, leaving everything running in the background. Without root it falls back to the
loopback lab (Envoys replaying recorded istiod config) and stays in the foreground.

After `up`, `export KUBECONFIG=DIR/kubeconfig` (cluster admin) or DIR/kubeconfig-alice
(a user whose rights end at namespace foo), and `kubectl meshdebug ...` works against it
(with the venv's bin on PATH, where pip put kubectl-meshdebug).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tests.cluster.build import BuildError, ensure_binaries


def _up(workdir: Path, scenario: str | None) -> int:
    from kubectl_meshdebug.lab.scenarios import SCENARIOS
    from tests.cluster.network import missing_tools

    if scenario and scenario not in SCENARIOS:
        print(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    if (workdir / "pids.json").exists():
        print(f"{workdir} already runs a cluster: `python -m tests.cluster down {workdir}` "
              "first", file=sys.stderr)
        return 2
    # A DIR a cluster ran in before keeps that cluster's store: start from an empty one,
    # or the scenario's objects meet the last one's (409 already exists).
    stale = workdir / "etcd"
    if stale.is_dir() and not stale.is_symlink():
        import shutil

        shutil.rmtree(stale)
    reason = missing_tools()
    if reason is None:
        return _up_mesh(workdir, scenario)
    print(f"no real mesh here ({reason}): the loopback lab instead", file=sys.stderr)
    return _up_lab(workdir, scenario)


def _up_mesh(workdir: Path, scenario: str | None) -> int:
    """Control plane, istiod and the scenario's pods; detached once ready."""
    from kubectl_meshdebug.lab.scenarios import SCENARIOS

    workdir.mkdir(parents=True, exist_ok=True)
    cp, mesh = _mesh_in(workdir)
    try:
        _step("control plane", cp.start)
        _step("istiod", mesh.start)
        if scenario:
            sc = SCENARIOS[scenario]
            _step(f"scenario {scenario}", lambda: mesh.load(sc.build()))
            _step("traffic", lambda: mesh.drive(sc))
    except BaseException as exc:
        mesh.stop()
        cp.stop()
        if isinstance(exc, KeyboardInterrupt):
            return 130
        print(f"error: {exc}", file=sys.stderr)
        return 1
    pids = {name: proc.pid for name, proc in cp.procs.items()}
    pids.update(mesh.network.holder_pids())
    (workdir / "pids.json").write_text(json.dumps(pids, indent=1))
    print(f"cluster up: export KUBECONFIG={workdir / 'kubeconfig'}")
    return 0


def _record(names: list[str]) -> int:
    """A control plane and istiod in a scratch folder; every named lab mesh loaded in
    turn and recorded (tests/cluster/record.py); everything stopped again."""
    import tempfile

    from kubectl_meshdebug.lab.scenarios import recorded_meshes
    from tests.cluster.network import missing_tools
    from tests.cluster.record import record_all

    meshes = recorded_meshes()
    unknown = [n for n in names if n not in meshes]
    if unknown:
        print(f"unknown lab mesh {unknown[0]!r}; one of {', '.join(meshes)}", file=sys.stderr)
        return 2
    reason = missing_tools()
    if reason is not None:
        print(f"error: recording needs the real mesh ({reason})", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="meshdebug-record-") as tmp:
        cp, mesh = _mesh_in(Path(tmp))
        try:
            _step("control plane", cp.start)
            _step("istiod", mesh.start)
            for path in record_all(mesh, meshes, names or list(meshes)):
                print(f"  wrote {path}")
        finally:
            mesh.stop()
            cp.stop()
    return 0


def _mesh_in(workdir: Path) -> tuple[Any, Any]:
    """A control plane and an istiod for it in WORKDIR, not started yet."""
    from tests.cluster.build import ensure_istio
    from tests.cluster.controlplane import ControlPlane
    from tests.cluster.istiomesh import IstioMesh

    istio = ensure_istio()
    cp = ControlPlane(workdir, ensure_binaries(), crds=istio / "crd-all.gen.yaml",
                      pilot_agent=istio / "pilot-agent")
    return cp, IstioMesh(cp, istio)


def _step(what: str, fn: callable) -> None:
    started = time.monotonic()
    print(f"starting {what} ...", file=sys.stderr, flush=True)
    fn()
    print(f"  {what} ready in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)


def _up_lab(workdir: Path, scenario: str | None) -> int:
    from tests.cluster.controlplane import ControlPlane
    from tests.cluster.labcluster import LabCluster

    workdir.mkdir(parents=True, exist_ok=True)
    cp = ControlPlane(workdir, ensure_binaries()).start()
    pids = {name: proc.pid for name, proc in cp.procs.items()}
    if scenario:
        from kubectl_meshdebug.lab.scenarios import SCENARIOS

        sc = SCENARIOS[scenario]
        mesh = sc.build()
        mesh.workdir = workdir / "lab"
        mesh.workdir.mkdir(exist_ok=True)
        mesh._own_workdir = False
        mesh.start()
        sc.run_traffic(mesh)
        LabCluster(cp).load(mesh)
        for name, envoy in mesh.envoys.items():
            if envoy.proc is not None:
                pids[f"envoy-{name}"] = envoy.proc.pid
    (workdir / "pids.json").write_text(json.dumps(pids, indent=1))
    print(f"cluster up: export KUBECONFIG={workdir / 'kubeconfig'}")
    if scenario:
        print("the lab's apps live in this process: keep it running (Ctrl-C stops all)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return _down(workdir)
    return 0


def _down(workdir: Path) -> int:
    path = workdir / "pids.json"
    if not path.exists():
        print(f"nothing started in {workdir}", file=sys.stderr)
        return 1
    pids = json.loads(path.read_text())
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGCONT)
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            continue
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for name, pid in pids.items():
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        print(f"stopped {name}")
    path.unlink()
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours is gone for every purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build or reuse the binaries")
    up = sub.add_parser("up", help="start a control plane in DIR")
    up.add_argument("dir", type=Path)
    up.add_argument("--scenario", help="also run this lab scenario and load it")
    down = sub.add_parser("down", help="stop what `up` started in DIR")
    down.add_argument("dir", type=Path)
    rec = sub.add_parser("record", help="record what istiod sends each lab mesh (root)")
    rec.add_argument("names", nargs="*", help="lab meshes to record (default: all)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "build":
            print(ensure_binaries())
            return 0
        if args.cmd == "up":
            return _up(args.dir.resolve(), args.scenario)
        if args.cmd == "record":
            return _record(args.names)
        return _down(args.dir.resolve())
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
