"""`certs` on real Envoys: the lab's sidecars hold istiod-shaped SDS secrets; a test swaps
in certificates made with openssl (expired, another identity, another root) through the
same file-based SDS Envoy watches, as pilot-agent would push them, and reads them back
through the admin API."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.lab.scenarios import SCENARIOS
from kubectl_meshdebug.transport.direct import DirectTransport
from tests.helpers import run

pytestmark = pytest.mark.e2e


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_root(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}-key.pem", folder / f"{name}-cert.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "30", "-subj", f"/O=cluster.local/CN={name}", "-keyout", str(key),
            "-out", str(cert))
    return cert, key


def make_leaf(folder: Path, root: tuple[Path, Path], identity: str, days: int
              ) -> tuple[Path, Path]:
    key, csr, cert = folder / "leaf-key.pem", folder / "leaf.csr", folder / "leaf-cert.pem"
    ext = folder / "ext.cnf"
    ext.write_text(f"subjectAltName=critical,URI:{identity}\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/O=cluster.local", "-keyout", str(key), "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(root[0]), "-CAkey", str(root[1]),
            "-CAcreateserial", "-days", str(days), "-extfile", str(ext), "-out", str(cert))
    return cert, key


def serial_of(cert: Path) -> str:
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-serial"],
                         check=True, capture_output=True, text=True).stdout
    return format(int(out.strip().split("=", 1)[1], 16), "032x")


def push_secrets(mesh, pod: str, leaf: tuple[Path, Path], root: Path) -> None:
    """Rewrite the pod's SDS files (default, ROOTCA) as pilot-agent would push new ones,
    and wait until Envoy holds the new certificate."""
    def inline(path: Path) -> dict[str, str]:
        return {"inlineBytes": base64.b64encode(path.read_bytes()).decode()}

    secrets = {
        "default": {"name": "default", "tlsCertificate": {
            "certificateChain": inline(leaf[0]), "privateKey": inline(leaf[1])}},
        "ROOTCA": {"name": "ROOTCA", "validationContext": {"trustedCa": inline(root)}}}
    for path in sorted((mesh.workdir / "xds").glob(f"{pod}-sds-*.json")):
        doc = json.loads(path.read_text())
        name = doc["resources"][0]["name"]
        doc["resources"] = [{"@type": doc["resources"][0]["@type"], **secrets[name]}]
        doc["version_info"] = "pushed"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)
    lab_pod = next(p for p in mesh.pods if p.name == pod)
    admin = AdminClient(DirectTransport(mesh.admin_url(lab_pod)))
    deadline = time.monotonic() + 20
    wanted = {"default": inline(leaf[0])["inlineBytes"], "ROOTCA": inline(root)["inlineBytes"]}
    while time.monotonic() < deadline:  # Envoy skips a push that changes nothing: compare
        dump = admin.config_dump(resource="dynamic_active_secrets")
        held = {c["name"]: (c["secret"].get("tls_certificate") or {}).get(
            "certificate_chain", {}).get("inline_bytes") or (c["secret"].get(
                "validation_context") or {}).get("trusted_ca", {}).get("inline_bytes")
            for c in dump["configs"]}
        if held == wanted:
            return
        time.sleep(0.05)
    raise AssertionError("Envoy did not take the pushed secrets")


@pytest.fixture
def lab(tmp_path):
    mesh = SCENARIOS["healthy"].build()
    with mesh:
        mesh.write_manifests()
        yield mesh


def certs(mesh, pod: str, *extra: str):
    return run("certs", pod, "-n", "foo", "-f", str(mesh.workdir / "manifests.yaml"),
               *mesh.admin_url_args(), *extra)


def test_healthy_sidecar_certificates_as_openssl_reads_them(lab):
    from kubectl_meshdebug.lab.replay import CERTS, cert_files

    result = certs(lab, "sleep", "-o", "json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["findings"] == []
    rows = {r["name"]: r for r in doc["items"]}
    assert rows["default"]["type"] == "Cert Chain" and rows["ROOTCA"]["type"] == "CA"
    assert rows["default"]["serial_number"] == serial_of(cert_files("foo", "sleep")[0])
    assert rows["ROOTCA"]["serial_number"] == serial_of(CERTS / "root-cert.pem")
    assert rows["default"]["identities"] == ["spiffe://cluster.local/ns/foo/sa/sleep"]
    assert all(r["valid"] for r in rows.values())
    text = certs(lab, "sleep").out
    assert text.splitlines()[0].split() == ["RESOURCE", "NAME", "TYPE", "STATUS", "VALID",
                                            "CERT", "SERIAL", "NUMBER", "NOT", "AFTER",
                                            "NOT", "BEFORE"]
    assert "Certificates valid." in text


def test_expired_workload_certificate(lab, tmp_path):
    root = make_root(tmp_path, "new root")
    leaf = make_leaf(tmp_path, root, "spiffe://cluster.local/ns/foo/sa/sleep", days=0)
    push_secrets(lab, "sleep", leaf, root[0])
    result = certs(lab, "sleep", "-o", "json")
    assert result.code == 1, result.err
    ids = [f["id"] for f in result.json()["findings"]]
    assert ids == ["cert-expired"], ids
    assert [r["valid"] for r in result.json()["items"]] == [False, True]


def test_another_identity_and_an_unanchored_chain(lab, tmp_path):
    trusted = make_root(tmp_path, "trusted root")
    other = make_root(tmp_path, "other root")
    leaf = make_leaf(tmp_path, other, "spiffe://cluster.local/ns/foo/sa/httpbin", days=1)
    push_secrets(lab, "sleep", leaf, trusted[0])
    result = certs(lab, "sleep", "-o", "json", "--compare", "httpbin-v1")
    assert result.code == 1, result.err
    doc = result.json()
    ids = sorted(f["id"] for f in doc["findings"])
    assert ids == ["cert-identity-mismatch", "root-ca-mismatch", "root-ca-mismatch"], ids
    assert doc["shares_root_with"] == {"pod": "httpbin-v1", "shared": False}
    mismatch = next(f for f in doc["findings"] if f["id"] == "cert-identity-mismatch")
    assert "spiffe://cluster.local/ns/foo/sa/sleep" in mismatch["summary"]


def test_why503_names_an_expired_server_certificate(lab, tmp_path):
    """The server's sidecar presents a certificate that expired: the client's Envoy
    refuses the handshake (503 UF, certificate expired), and why-503 says why."""
    from kubectl_meshdebug.lab.replay import CERTS
    from kubectl_meshdebug.lab.traffic import http_call

    root = make_root(tmp_path, "new root")
    leaf = make_leaf(tmp_path, root, "spiffe://cluster.local/ns/foo/sa/httpbin", days=0)
    push_secrets(lab, "httpbin-v1", leaf, CERTS / "root-cert.pem")
    outcome = http_call(lab.client_target("httpbin.foo", 8000), "httpbin.foo:8000")
    assert outcome.status == 503, str(outcome)
    time.sleep(0.25)  # the access log flushes every 100 ms
    scenario = SCENARIOS["healthy"]
    result = run(*scenario.why503_args(lab), "-o", "json")
    ids = [f["id"] for f in result.json()["findings"]]
    assert result.code == 1 and ids[0] == "cert-expired", ids
