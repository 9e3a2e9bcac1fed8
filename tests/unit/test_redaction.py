"""No secret leaves config-dump: keys planted in real dumps, in every shape Envoy's API
allows and some it does not, never reach stdout or a --save file in any output format.

Each planted value carries a marker (`SECRET-n`, or key material whose base64 or PEM body
is known) so that a leak is found wherever it lands, however the output is shaped.
"""

from __future__ import annotations

import base64
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import DATA, run

DUMPS = [DATA / "istio" / "config_dump" / "secrets" / "istio-sds-secrets.json",
         DATA / "istio" / "config_dump" / "sidecar" / "productpage-v1-automtls-istio1.4.json",
         DATA / "istio" / "config_dump" / "gateway" / "istio-ingressgateway-automtls-sds-istio1.7.json"]
BODY = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKEYBODY"


def pem(label: str = "PRIVATE KEY", end: str | None = None, closed: bool = True) -> str:
    text = f"-----BEGIN {label}-----\n{BODY}\n"
    return text + (f"-----END {end or label}-----\n" if closed else "")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _tls(field: str, value: object) -> dict:
    return {"name": "planted", "tls_certificate": {field: value}}


# (name, the secret object to plant, strings that must not appear in any output)
PLANTS: list[tuple[str, dict, list[str]]] = [
    ("private_key inline_string", _tls("private_key", {"inline_string": pem()}), [BODY]),
    ("private_key inline_bytes", _tls("private_key", {"inline_bytes": b64(pem())}),
     [b64(pem())[:40]]),
    ("privateKey camelCase", _tls("privateKey", {"inlineString": pem("EC PRIVATE KEY")}), [BODY]),
    ("pkcs12 snake", _tls("pkcs12", {"inline_bytes": "UEtDUzEyLVNFQ1JFVC0x"}),
     ["UEtDUzEyLVNFQ1JFVC0x"]),
    ("pkcs12 camel", {"name": "p", "tlsCertificate": {"pkcs12": {"inlineBytes": "U0VDUkVULTI="}}},
     ["U0VDUkVULTI="]),
    ("password", _tls("password", {"inline_string": "SECRET-3"}), ["SECRET-3"]),
    ("generic inline_string", {"name": "g", "generic_secret": {
        "secret": {"inline_string": "SECRET-4"}}}, ["SECRET-4"]),
    ("generic inline_bytes", {"name": "g", "generic_secret": {
        "secret": {"inline_bytes": b64("SECRET-5")}}}, [b64("SECRET-5")]),
    ("session ticket keys", {"name": "s", "session_ticket_keys": {
        "keys": [{"inline_bytes": b64("SECRET-6" * 10)}]}}, [b64("SECRET-6" * 10)[:40]]),
    ("pem without END", _tls("certificate_chain", {"inline_string": pem(closed=False)}), [BODY]),
    ("pem labels differ", _tls("certificate_chain", {
        "inline_string": pem("RSA PRIVATE KEY", end="CERTIFICATE")}), [BODY]),
    ("base64 pem in any bytes", _tls("certificate_chain", {"inline_bytes": b64(pem())}),
     [b64(pem())[:40]]),
    ("pem in an unrelated field", {"name": "n", "note": "key: " + pem("OPENSSH PRIVATE KEY")},
     [BODY]),
]
HEADER_PLANTS: list[tuple[str, dict, str]] = [
    ("bearer header", {"header": {"key": "authorization", "value": "Bearer SECRET-7abcdefgh"}},
     "SECRET-7"),
    ("cookie header", {"header": {"key": "Cookie", "value": "session=SECRET-8"}}, "SECRET-8"),
    ("basic auth users", {"name": "envoy.filters.http.basic_auth", "typed_config": {
        "users": {"inline_string": "admin:{SHA}SECRET-9"}}}, "SECRET-9"),
]
FORMATS = [[], ["-o", "yaml"], ["-o", "json"], ["--resource", "secrets"],
           ["--jsonpath", "$..tls_certificate"], ["--jsonpath", "$..secret"],
           ["--jsonpath", "$..note"], ["--jsonpath", "$..header"], ["--jsonpath", "$..users"]]


def _plant(doc: dict, rng: random.Random, secret: dict) -> None:
    """Put `secret` somewhere a secret can live: the secrets section, or deep inside any
    resource of the dump (EnvoyFilters and hand-edited dumps put them anywhere)."""
    configs = doc.setdefault("configs", [])
    if rng.random() < 0.4 or not configs:
        configs.append({"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                        "static_secrets": [{"name": "planted", "secret": secret}]})
        return
    containers = []
    stack = [configs]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            containers.append(node)
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    target = rng.choice(containers)
    target[f"planted_{rng.randrange(10 ** 6)}"] = secret


def _leaked(text: str, markers: list[str]) -> list[str]:
    return [m for m in markers if m in text] + (["PRIVATE KEY"] if "PRIVATE KEY" in text else [])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10 ** 6), picks=st.lists(st.integers(0, len(PLANTS) - 1),
                                                     min_size=1, max_size=4),
       dump=st.sampled_from(DUMPS), fmt=st.sampled_from(FORMATS))
def test_planted_keys_never_leave(tmp_path, seed, picks, dump, fmt):
    rng = random.Random(seed)
    doc = json.loads(dump.read_text())
    markers: list[str] = []
    for i in picks:
        _name, secret, must_not = PLANTS[i]
        _plant(doc, rng, json.loads(json.dumps(secret)))
        markers += must_not
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    result = run("config-dump", "--dump", path, *fmt)
    assert result.code == 0, result.err
    assert _leaked(result.out, markers) == []
    saved = tmp_path / "saved.json"
    assert run("config-dump", "--dump", path, "--save", saved).code == 0
    assert _leaked(saved.read_text(), markers) == []


@pytest.mark.parametrize("name,secret,marker", HEADER_PLANTS, ids=[p[0] for p in HEADER_PLANTS])
@pytest.mark.parametrize("fmt", FORMATS[:3] + FORMATS[-2:])
def test_credentials_in_headers_and_filters(tmp_path, name, secret, marker, fmt):
    doc = json.loads(DUMPS[1].read_text())
    doc["configs"].append({"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                           "static_listeners": [{"listener": {"name": "l", "planted": secret}}]})
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    result = run("config-dump", "--dump", path, *fmt)
    assert result.code == 0, result.err
    assert marker not in result.out


@pytest.mark.parametrize("name,secret,must_not", PLANTS, ids=[p[0] for p in PLANTS])
def test_each_form_alone(tmp_path, name, secret, must_not):
    """One plant per run, so that a form that leaks is named by the failing test id."""
    doc = json.loads(DUMPS[0].read_text())
    _plant(doc, random.Random(0), secret)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    result = run("config-dump", "--dump", path)
    assert result.code == 0 and _leaked(result.out, must_not) == []


def test_ordinary_config_is_not_redacted():
    """Redaction must not eat what a debugger needs: names, hosts, filenames of secrets."""
    result = run("config-dump", "--dump", DUMPS[2])
    assert result.code == 0
    assert "outbound|" in result.out and "[redacted]" not in result.out.replace(
        "W3JlZGFjdGVkXQ==", "")
