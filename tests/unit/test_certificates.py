"""The secrets of a config dump as istioctl proxy-config secret shows them (its own test
output), and the checks on certificates, on data only."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kubectl_meshdebug.checks.certificates import check_certificates
from kubectl_meshdebug.envoy.certificates import parse_pem_bundle, secret_items
from tests.helpers import DATA, run

SECRETS = DATA / "istio" / "config_dump" / "secrets"


def istioctl_rows() -> list[list[str]]:
    lines = (SECRETS / "istio-sds-secrets.istioctl-pc-secret.txt").read_text().splitlines()
    header = lines[0]
    starts = [header.index(h) for h in ("RESOURCE NAME", "TYPE", "STATUS", "VALID CERT",
                                        "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE")]
    bounds = list(zip(starts, starts[1:] + [None], strict=True))
    return [[line[a:b].strip() for a, b in bounds] for line in lines[1:]]


def test_secrets_as_istioctl_prints_them():
    result = run("certs", "--dump", str(SECRETS / "istio-sds-secrets.json"), "-o", "json")
    mine = [[r["name"], r["type"], r["state"], "true" if r["valid"] else "false",
             r["serial_number"], r["not_after"], r["not_before"]]
            for r in result.json()["items"]]
    assert mine == istioctl_rows()


def test_the_expired_workload_certificate_is_the_finding():
    result = run("certs", "--dump", str(SECRETS / "istio-sds-secrets.json"), "-o", "json")
    assert result.code == 1
    assert [f["id"] for f in result.json()["findings"]] == ["cert-expired"]


def test_no_workload_certificate():
    doc = json.loads((SECRETS / "istio-sds-secrets.json").read_text())
    section = doc["configs"][0]
    items = [i for i in secret_items(section) if i.name != "default"]
    found = check_certificates("foo/web", items, datetime.now(UTC))
    assert [f.id for f in found] == ["cert-missing"]


def test_garbage_certificates_are_reported_not_raised():
    import base64

    garbage = b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"
    section = {"dynamic_active_secrets": [{"name": "default", "secret": {
        "name": "default", "tls_certificate": {"certificate_chain": {
            "inline_bytes": base64.b64encode(garbage).decode()}}}}]}
    [item] = secret_items(section)
    assert item.certs == [] and item.error
    try:
        parse_pem_bundle(b"x" * (2 << 20))
    except ValueError as exc:
        assert "more than a proxy holds" in str(exc)
    else:
        raise AssertionError("an oversized bundle was parsed")


def test_a_gateway_credential_that_never_loaded():
    """A gateway's SDS secret for a Gateway's credentialName, still warming (its Secret
    is missing where the gateway reads it), as Envoy lists it in dynamic_warming_secrets."""
    from kubectl_meshdebug.checks.certificates import unloaded_credentials

    section = {"dynamic_warming_secrets": [{
        "name": "kubernetes://httpbin-credential", "version_info": "uninitialized",
        "secret": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
                            "Secret", "name": "kubernetes://httpbin-credential"}}]}
    found = unloaded_credentials("istio-system/istio-ingressgateway-5d9", secret_items(section))
    assert [f.id for f in found] == ["gateway-credential-not-found"]
    assert "'httpbin-credential'" in found[0].summary and "WARMING" in found[0].summary
    assert "kubectl get secret httpbin-credential -n istio-system" in found[0].fix
