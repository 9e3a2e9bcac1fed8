"""Pod networking as Kubernetes gives it, inside a private network namespace.

A CNI plugin gives each pod its own network namespace with one interface, `eth0`, whose
address is routable from the node and from every other pod. Here the "node network" is a
network namespace of its own (the mesh namespace) holding a bridge; each pod's namespace
is joined to it by a veth pair. Nothing is added to the host's network: the host sees
neither the bridge nor the pods, and the only ways in are the API server relay (see
labnode relay) and what labnode does for exec and port-forward, as a kubelet would.

A namespace lives as long as its holder process (`unshare --net sleep`); the paths under
/proc of those processes are how everything else joins it (nsenter, setns). Needs root,
`unshare`, `nsenter` and `ip` (util-linux, iproute2).
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000

BRIDGE = "mdbr0"
# The pods' network; the bridge holds the first address (the pods' default gateway),
# where the mesh namespace's services (istiod, the API server relay) listen.
POD_CIDR = ipaddress.ip_network("10.88.0.0/16")
GATEWAY = str(POD_CIDR.network_address + 1)
# Addresses outside the mesh (no Service): a host the calls leave the mesh for.
EXTERNAL_IP = "10.89.0.1"


class NetworkError(RuntimeError):
    """A namespace, link or address could not be made."""


def missing_tools() -> str | None:
    """Why pod networking cannot be made here, or None."""
    if os.geteuid() != 0:
        return "pod network namespaces need root (unshare --net, veth, iptables)"
    for tool in ("unshare", "nsenter", "ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install iptables iproute2 util-linux)"
    return None


@dataclass
class Netns:
    """A network namespace held open by a sleeping process."""

    name: str
    holder: subprocess.Popen[bytes]

    @property
    def path(self) -> str:
        return f"/proc/{self.holder.pid}/ns/net"

    def run(self, argv: list[str], *, check: bool = True,
            user: int | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside this namespace (as `user` when given)."""
        return _run(nsenter(self.path, argv, user=user), check=check)

    def close(self) -> None:
        if self.holder.poll() is None:
            self.holder.send_signal(signal.SIGKILL)
            self.holder.wait(timeout=5)


def nsenter(path: str, argv: list[str], user: int | None = None) -> list[str]:
    prefix = ["nsenter", f"--net={path}"]
    if user is not None:
        prefix += [f"--setuid={user}", f"--setgid={user}"]
    return [*prefix, "--", *argv]


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {result.stderr.strip() or result.returncode}")
    return result


def new_netns(name: str) -> Netns:
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)
    ns = Netns(name, holder)
    # the holder has unshared once /proc/PID/ns/net differs from ours
    own = os.readlink("/proc/self/ns/net")
    for _ in range(200):
        if holder.poll() is not None:
            raise NetworkError(f"unshare --net failed: {holder.stderr.read().decode().strip()}")
        try:
            if os.readlink(ns.path) != own:
                break
        except OSError:
            pass
        subprocess.run(["sleep", "0.01"])
    else:
        ns.close()
        raise NetworkError("unshare --net did not make a namespace within 2 s")
    ns.run(["ip", "link", "set", "lo", "up"])
    return ns


class PodNetwork:
    """The mesh namespace with its bridge, and one namespace per pod joined to it."""

    def __init__(self) -> None:
        self.mesh: Netns | None = None
        self.pods: dict[str, Netns] = {}
        self._next = 2  # 10.88.0.1 is the gateway

    def start(self) -> PodNetwork:
        reason = missing_tools()
        if reason:
            raise NetworkError(reason)
        self.mesh = new_netns("mesh")
        prefix = POD_CIDR.prefixlen
        for argv in (["ip", "link", "add", BRIDGE, "type", "bridge"],
                     ["ip", "addr", "add", f"{GATEWAY}/{prefix}", "dev", BRIDGE],
                     ["ip", "link", "set", BRIDGE, "up"],
                     # the outside world, as far as the mesh can tell: an address nobody
                     # answers on unless a test puts a server there
                     ["ip", "addr", "add", f"{EXTERNAL_IP}/32", "dev", "lo"]):
            self.mesh.run(argv)
        return self

    @property
    def mesh_path(self) -> str:
        assert self.mesh is not None, "start() first"
        return self.mesh.path

    def add_pod(self, key: str) -> tuple[Netns, str]:
        """A new pod namespace with eth0 on the bridge; returns it and the pod's IP."""
        assert self.mesh is not None, "start() first"
        ip = str(POD_CIDR.network_address + self._next)
        index = self._next
        self._next += 1
        ns = new_netns(key)
        veth = f"mdv{index}"
        try:
            self.mesh.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
                           "netns", str(ns.holder.pid)])
            self.mesh.run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
            ns.run(["ip", "addr", "add", f"{ip}/{POD_CIDR.prefixlen}", "dev", "eth0"])
            ns.run(["ip", "link", "set", "eth0", "up"])
            ns.run(["ip", "route", "add", "default", "via", GATEWAY])
        except NetworkError:
            ns.close()
            raise
        self.pods[key] = ns
        return ns, ip

    def remove_pod(self, key: str) -> None:
        ns = self.pods.pop(key, None)
        if ns is not None:
            ns.close()  # the veth pair goes with the namespace

    def holder_pids(self) -> dict[str, int]:
        """netns/NAME -> the pid whose death frees that namespace."""
        out = {f"netns/{k}": ns.holder.pid for k, ns in self.pods.items()}
        if self.mesh is not None:
            out["netns/mesh"] = self.mesh.holder.pid
        return out

    def stop(self) -> None:
        for key in list(self.pods):
            self.remove_pod(key)
        if self.mesh is not None:
            self.mesh.close()
            self.mesh = None


def call_in_netns(path: str, fn: Callable[[], T]) -> T:
    """fn() on a thread that has joined the network namespace at path: sockets it opens
    (and threads it starts) are in that namespace, as an app inside the pod would be. The
    thread ends with fn, so no other code of this process ever runs in the namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    outcome: dict[str, Any] = {}

    def target() -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                outcome["error"] = NetworkError(f"setns {path}: {os.strerror(err)}")
                return
        finally:
            os.close(fd)
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="in-netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
