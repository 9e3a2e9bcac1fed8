"""Record what real istiod sends each lab mesh's sidecars, for the offline lab to replay.

    python -m tests.cluster record [NAME ...]   # as root; every recorded mesh by default

Each mesh (every scenario, and the few other named lab meshes tests use) is loaded on
the real mesh of tests/cluster (istiod, pilot-agent, iptables), then for each sidecar:
istiod's `/debug/config_dump?proxyID=POD.NS&include_eds` (the resources it pushes that
proxy, EnvoyFilter patches applied, so a fault is recorded as istiod sends it) and the
node and stats config of the bootstrap pilot-agent wrote. The lab's certificates are
made afresh for every identity the recordings hold (a throwaway root; nothing outside
the lab trusts it). `record_mesh` is also what the drift test renders with.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubectl_meshdebug.lab import recording
from kubectl_meshdebug.lab.mesh import LabMesh
from kubectl_meshdebug.lab.recording import RecordedProxy, Recording
from kubectl_meshdebug.lab.replay import CERTS, cert_files
from tests.cluster.istiomesh import IstioMesh, _http_in
from tests.cluster.network import EXTERNAL_IP, GATEWAY

LAB_ANNOTATIONS = "lab.meshdebug.io/"


def _node(bootstrap: dict[str, Any]) -> dict[str, Any]:
    """The bootstrap's node, without what only this machine had: the lab's own
    annotations (log paths, network namespace) and the Envoy binary's path."""
    node = {k: bootstrap["node"][k] for k in ("id", "cluster", "metadata")
            if k in bootstrap["node"]}
    meta = node.get("metadata") or {}
    annotations = meta.get("ANNOTATIONS")
    if isinstance(annotations, dict):
        meta["ANNOTATIONS"] = {k: v for k, v in annotations.items()
                               if not k.startswith(LAB_ANNOTATIONS)}
    proxy_config = meta.get("PROXY_CONFIG")
    if isinstance(proxy_config, dict) and "binaryPath" in proxy_config:
        proxy_config["binaryPath"] = "/usr/local/bin/envoy"
    return node


def record_mesh(mesh: IstioMesh, name: str, lab: LabMesh) -> Recording:
    """Load LAB on the real mesh and record what istiod sends each of its sidecars."""
    mesh.load(lab)
    return snapshot(mesh, name)


def snapshot(mesh: IstioMesh, name: str) -> Recording:
    """What istiod sends each sidecar of the mesh loaded now, as recording NAME."""
    api = mesh.cp.api
    assert api is not None
    addresses = {GATEWAY: "istiod", EXTERNAL_IP: "external"}
    for (namespace, pod_name), running in mesh.pods.items():
        addresses[running.ip] = f"pod {namespace}/{pod_name}"
    for namespace in sorted(mesh.lab_cluster.namespaces | {"default", "istio-system"}):
        for svc in api.list("Service", namespace):
            ip = svc["spec"].get("clusterIP")
            if ip and ip != "None":
                addresses[ip] = f"service {namespace}/{svc['metadata']['name']}"
    proxies = []
    istio = ""
    for (namespace, pod_name), running in sorted(mesh.pods.items()):
        if not running.lab.sidecar:
            continue
        dump = mesh.istiod_debug(f"/debug/config_dump?proxyID={pod_name}.{namespace}"
                                 "&include_eds")
        code, body = _http_in(running.netns, "http://127.0.0.1:15000/config_dump",
                              timeout=10)
        if code != 200:
            raise RuntimeError(f"{namespace}/{pod_name}: config_dump HTTP {code}")
        bootstrap = next(c["bootstrap"] for c in json.loads(body)["configs"]
                         if c["@type"].endswith("BootstrapConfigDump"))
        node = _node(bootstrap)
        istio = str((node.get("metadata") or {}).get("ISTIO_VERSION") or istio)
        proxies.append(RecordedProxy(pod=f"{namespace}/{pod_name}", node=node,
                                     stats_config=bootstrap.get("stats_config") or {},
                                     **recording.from_istiod_dump(dump)))
    return Recording(name, istio, addresses, proxies)


def write_certs(identities: set[tuple[str, str]], folder: Path = CERTS) -> None:
    """A lab root and, for each (namespace, service account), a workload certificate as
    istiod's CA issues one: the SPIFFE id as the only URI SAN, valid for a century so the
    lab never expires. Replaces every certificate in FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.pem"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        root_key = Path(tmp) / "root-key.pem"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-days", "36500", "-subj", "/O=cluster.local/CN=meshdebug lab root",
                 "-keyout", str(root_key), "-out", str(folder / "root-cert.pem"))
        for namespace, account in sorted(identities):
            cert, key = cert_files(namespace, account)
            csr = Path(tmp) / "csr.pem"
            ext = Path(tmp) / "ext.cnf"
            ext.write_text(f"subjectAltName=critical,URI:spiffe://cluster.local/ns/{namespace}"
                           f"/sa/{account}\nkeyUsage=critical,digitalSignature,"
                           "keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n")
            _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-subj", "/O=cluster.local", "-keyout", str(key),
                     "-out", str(csr))
            _openssl("x509", "-req", "-in", str(csr), "-CA", str(folder / "root-cert.pem"),
                     "-CAkey", str(root_key), "-CAserial", str(Path(tmp) / "serial"),
                     "-CAcreateserial", "-days", "36500",
                     "-extfile", str(ext), "-out", str(cert))


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def identities(recordings: list[Recording]) -> set[tuple[str, str]]:
    out = set()
    for rec in recordings:
        for proxy in rec.proxies:
            account = (proxy.node.get("metadata") or {}).get("SERVICE_ACCOUNT") or "default"
            out.add((proxy.namespace, str(account)))
    return out


def record_all(mesh: IstioMesh, meshes: dict[str, Callable[[], LabMesh]],
               names: list[str], folder: Path = recording.FOLDER) -> list[Path]:
    written = []
    for name in names:
        lab = meshes[name]()
        print(f"recording {name} ...", flush=True)
        written.append(recording.save(record_mesh(mesh, name, lab), folder))
    everything = [recording.load(p.name.removesuffix(".json.gz"))
                  for p in sorted(folder.glob("*.json.gz"))]
    write_certs(identities(everything))
    mesh.unload()
    return written


def differences(old: Any, new: Any, path: str = "", limit: int = 12) -> list[str]:
    """Where two comparable recordings differ, as readable paths (at most LIMIT)."""
    out: list[str] = []

    def walk(a: Any, b: Any, at: str) -> None:
        if len(out) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if key not in a or key not in b:
                    out.append(f"{at}.{key}: {'added' if key in b else 'gone'}")
                else:
                    walk(a[key], b[key], f"{at}.{key}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{at}[{_label(x, i)}]")
        else:
            out.append(f"{at}: {json.dumps(a)[:120]} -> {json.dumps(b)[:120]}")

    walk(old, new, path)
    return out


def _label(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for key in ("pod", "name", "clusterName"):
            if isinstance(item.get(key), str):
                return item[key]
    return str(index)
