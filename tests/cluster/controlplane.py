"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, the controllers
and labnode.

Built from the Go module proxy (build.py), started with RBAC on and certificates made
here, with a Node whose kubelet is labnode, Istio's CRDs installed, and kubeconfigs for
the cluster admin and for namespace-scoped users who authenticate the ways users do: a
client certificate (alice), a bearer token (bob) and an exec credential plugin (carol).
kube-controller-manager runs the controllers a mesh depends on (EndpointSlices and
Endpoints from pods, ServiceAccounts and their tokens, namespace deletion, garbage
collection). No scheduler: the harness creates pods already bound to the node and writes
their status itself, as a kubelet would.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.kubeapi import ApiError, KubeApi

CRDS = Path(__file__).resolve().parents[1] / "data" / "istio" / "crds" / "crd-all.gen.yaml"
# What kube-controller-manager runs here: what Services, pods and namespaces need.
CONTROLLERS = ("endpoint", "endpointslice", "endpointslicemirroring", "serviceaccount",
               "serviceaccount-token", "namespace", "garbagecollector",
               "root-ca-cert-publisher")
NODE = "mesh-node"
USERS_GROUP = "meshdebug-users"
READERS_GROUP = "meshdebug-readers"
# user -> (bearer token, group): bob and carol are users like alice (carol through an exec
# credential plugin), dana may read but not exec or port-forward.
TOKENS = {"bob": ("meshdebug-token-bob", USERS_GROUP),
          "carol": ("meshdebug-token-carol", USERS_GROUP),
          "dana": ("meshdebug-token-dana", READERS_GROUP)}

# What a namespace-scoped user may do in the namespaces granted to them (and nothing
# cluster-wide): read the workload and mesh objects, exec, port-forward and read logs.
NAMESPACE_ROLE_RULES = [
    {"apiGroups": [""], "resources": ["pods", "services", "endpoints", "configmaps", "events"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/exec", "pods/portforward"],
     "verbs": ["get", "create"]},
    {"apiGroups": ["networking.istio.io", "security.istio.io"], "resources": ["*"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets",
                                          "daemonsets"], "verbs": ["get", "list", "watch"]},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_processes(procs: list[subprocess.Popen[bytes]], grace: float = 5) -> None:
    """SIGTERM to each process group (resumed first: a test may have paused one), then
    SIGKILL to what is left after `grace` seconds in all."""
    live = [p for p in procs if p.poll() is None]
    for proc in live:
        try:
            os.killpg(proc.pid, signal.SIGCONT)
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for proc in live:
        try:
            proc.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


class ControlPlane:
    """Start with `start()`, always `stop()`; `workdir` keeps certificates, logs, kubeconfigs."""

    def __init__(self, workdir: Path, binaries: Path, crds: Path = CRDS,
                 pilot_agent: Path | None = None) -> None:
        self.workdir = Path(workdir)
        self.bin = Path(binaries)
        self.crds = crds
        self.pilot_agent = pilot_agent
        self.pki = self.workdir / "pki"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports = {"etcd": free_port(), "etcd-peer": free_port(), "apiserver": free_port(),
                      "kubelet": free_port()}
        self.api: KubeApi | None = None
        self.exec_log = self.workdir / "logs" / "exec.jsonl"

    # lifecycle -----------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def start(self) -> ControlPlane:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        subprocess.run([str(self.bin / "labnode"), "pki", str(self.pki)], check=True)
        (self.workdir / "tokens.csv").write_text("".join(
            f"{token},{user},{1000 + i},{group}\n"
            for i, (user, (token, group)) in enumerate(sorted(TOKENS.items()))))
        self._spawn("etcd", [
            str(self.bin / "etcd"), "--name=default", f"--data-dir={self.workdir / 'etcd'}",
            "--log-level=warn", "--unsafe-no-fsync",
            f"--listen-client-urls=http://127.0.0.1:{self.ports['etcd']}",
            f"--advertise-client-urls=http://127.0.0.1:{self.ports['etcd']}",
            f"--listen-peer-urls=http://127.0.0.1:{self.ports['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{self.ports['etcd-peer']}",
            f"--initial-cluster=default=http://127.0.0.1:{self.ports['etcd-peer']}",
        ])
        self._wait_http("etcd", f"http://127.0.0.1:{self.ports['etcd']}/health", 30)
        pki = self.pki
        self._spawn("kube-apiserver", [
            str(self.bin / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
            "--endpoint-reconciler-type=none", "--kubelet-preferred-address-types=InternalIP",
            "--profiling=false", "--v=0",
        ])
        self.api = KubeApi("127.0.0.1", self.ports["apiserver"], pki)
        self._wait_ready(90)
        admin = self.write_kubeconfigs()["admin"]
        self._spawn("kube-controller-manager", [
            str(self.bin / "kube-controller-manager"), f"--kubeconfig={admin}",
            f"--authentication-kubeconfig={admin}", f"--authorization-kubeconfig={admin}",
            "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}", "--concurrent-endpoint-syncs=10",
            "--concurrent-service-endpoint-syncs=10", "--v=0",
        ])
        labnode = [
            str(self.bin / "labnode"), "kubelet",
            f"--listen=127.0.0.1:{self.ports['kubelet']}",
            f"--tls-cert={pki / 'kubelet.crt'}", f"--tls-key={pki / 'kubelet.key'}",
            f"--kubeconfig={admin}",
            f"--shims={self._shims()}", f"--exec-log={self.exec_log}",
        ]
        if self.pilot_agent is not None:
            labnode.append(f"--pilot-agent={self.pilot_agent}")
        self._spawn("labnode", labnode)
        self._bootstrap()

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.spawn(name, argv, self.workdir / "logs" / f"{name}.log")

    def spawn(self, name: str, argv: list[str], log_path: Path,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a process of the cluster in its own process group, output to log_path;
        stop() (and `down`) stop it with the rest."""
        log = open(log_path, "ab")  # noqa: SIM115
        base = {k: v for k, v in os.environ.items()
                if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                env={**base, **(env or {})}, cwd=cwd, start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.workdir / "logs" / f"{name}.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def _wait_http(self, name: str, url: str, timeout: float) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer {url} within {timeout}s")

    def _wait_ready(self, timeout: float) -> None:
        assert self.api is not None
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                self.api.request("GET", "/readyz", timeout=2)
                return
            except (OSError, ApiError, ValueError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"kube-apiserver not ready within {timeout}s: {last}")

    def _shims(self) -> Path:
        """pilot-agent and curl inside the 'istio-proxy image': links to labnode."""
        shims = self.workdir / "shims"
        shims.mkdir(exist_ok=True)
        for name in ("pilot-agent", "curl"):
            link = shims / name
            if not link.exists():
                link.symlink_to(self.bin / "labnode")
        return shims

    def stop(self) -> None:
        """Stop every process started here: all asked at once, the API server and etcd
        last, so that nothing waits on another's slow exit one by one."""
        late = [n for n in ("kube-apiserver", "etcd") if n in self.procs]
        early = [n for n in self.procs if n not in late]
        for names in (early, late):
            stop_processes([self.procs[n] for n in names])
        self.procs.clear()

    def pause_apiserver(self) -> None:
        os.killpg(self.procs["kube-apiserver"].pid, signal.SIGSTOP)

    def resume_apiserver(self) -> None:
        os.killpg(self.procs["kube-apiserver"].pid, signal.SIGCONT)

    # bootstrap -------------------------------------------------------------------------
    def _bootstrap(self) -> None:
        assert self.api is not None
        self.api.ensure({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE,
                                                  "topology.kubernetes.io/region": "lab",
                                                  "topology.kubernetes.io/zone": "lab-a"}},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.ports["kubelet"]}},
                "conditions": [{"type": "Ready", "status": "True", "reason": "LabNodeReady",
                                "message": "labnode serves exec, logs and port-forward"}],
            },
        })
        names = []
        for doc in yaml.load_all(self.crds.read_text(), Loader=getattr(yaml, "CSafeLoader",
                                                                     yaml.SafeLoader)):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                self.api.ensure(doc)
                names.append(doc["metadata"]["name"])
        self.api.wait_established(names)
        self.ensure_namespace("istio-system")

    def ensure_namespace(self, name: str, labels: dict[str, str] | None = None,
                         grant_users: bool = False) -> None:
        """The namespace, its `default` ServiceAccount (a controller's job in a cluster),
        and, with grant_users, the namespace-scoped users' Role there."""
        assert self.api is not None
        self.api.ensure({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": name, "labels": labels or {}}})
        if labels:
            ns = self.api.get("Namespace", None, name)
            ns["metadata"]["labels"] = labels
            self.api.request("PUT", self.api.path("Namespace", None, name), ns)
        self.ensure_service_account(name, "default")
        if grant_users:
            read_only = [r for r in NAMESPACE_ROLE_RULES
                         if "pods/exec" not in r["resources"]]
            for role, group, rules in (("meshdebug-user", USERS_GROUP, NAMESPACE_ROLE_RULES),
                                       ("meshdebug-reader", READERS_GROUP, read_only)):
                self.api.ensure({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                 "metadata": {"name": role, "namespace": name},
                                 "rules": rules})
                self.api.ensure({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": role, "namespace": name},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": role},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                  "name": group}]})

    def ensure_service_account(self, namespace: str, name: str) -> None:
        assert self.api is not None
        self.api.ensure({"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": name, "namespace": namespace}})

    # kubeconfigs -----------------------------------------------------------------------
    def write_kubeconfigs(self, namespace: str = "foo") -> dict[str, Path]:
        """admin (system:masters), alice (client cert), bob (token), carol (exec plugin)."""
        out = {}
        cluster = {"name": "lab", "cluster": {"server": self.server,
                                              "certificate-authority-data": _b64(
                                                  self.pki / "ca.crt")}}
        users: dict[str, dict[str, Any]] = {
            "admin": {"client-certificate-data": _b64(self.pki / "admin.crt"),
                      "client-key-data": _b64(self.pki / "admin.key")},
            "alice": {"client-certificate-data": _b64(self.pki / "alice.crt"),
                      "client-key-data": _b64(self.pki / "alice.key")},
            "bob": {"token": TOKENS["bob"][0]},
            "dana": {"token": TOKENS["dana"][0]},
            "carol": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                               "command": sys.executable,
                               "args": [str(self._credential_plugin())],
                               "interactiveMode": "Never"}},
        }
        for user, credentials in users.items():
            doc = {
                "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
                "users": [{"name": user, "user": credentials}],
                "contexts": [{"name": f"lab-{user}", "context": {
                    "cluster": "lab", "user": user,
                    "namespace": "default" if user == "admin" else namespace}}],
                "current-context": f"lab-{user}",
            }
            path = self.workdir / f"kubeconfig-{user}"
            path.write_text(yaml.safe_dump(doc))
            path.chmod(0o600)
            out[user] = path
        (self.workdir / "kubeconfig").write_text(out["admin"].read_text())
        return out

    def _credential_plugin(self) -> Path:
        """A small exec credential plugin, as cloud CLIs are: prints an ExecCredential."""
        path = self.workdir / "credential-plugin.py"
        credential = {"apiVersion": "client.authentication.k8s.io/v1",
                      "kind": "ExecCredential", "status": {"token": TOKENS["carol"][0]}}
        path.write_text(f"import json\nprint(json.dumps({json.dumps(credential)}))\n")
        return path

    def env(self, user: str = "admin") -> dict[str, str]:
        """Environment for a kubectl or plugin process acting as `user`."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.workdir / f"kubeconfig-{user}")
        env["PATH"] = os.pathsep.join([str(self.bin), str(Path(sys.executable).parent),
                                       env.get("PATH", "")])
        env.pop("HTTPS_PROXY", None)
        env.pop("https_proxy", None)
        return env

    def execs(self) -> list[dict[str, Any]]:
        """Every exec the node ran so far: namespace, pod, container, command."""
        if not self.exec_log.exists():
            return []
        return [json.loads(line) for line in self.exec_log.read_text().splitlines() if line]
