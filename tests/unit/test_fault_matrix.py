"""Bad input of every kind and secrets in dumps: one line, the right exit code, nothing
leaked. Failures of the API server, exec and port-forward, and injection attempts through
them, are tested against a real API server in tests/cluster/."""

from __future__ import annotations

import json

import pytest

from tests.helpers import DATA, run

# --- secrets ------------------------------------------------------------------------------

KEY = ("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRET\n"
       "-----END PRIVATE KEY-----\n")


@pytest.fixture
def dump_with_keys(tmp_path):
    import base64

    doc = json.loads((DATA / "istio" / "config_dump" / "secrets" / "istio-sds-secrets.json")
                     .read_text())
    doc["configs"].append({
        "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
        "static_secrets": [{"name": "static-tls", "secret": {"tls_certificate": {
            "certificate_chain": {"inline_string": "-----BEGIN CERTIFICATE-----x"},
            "private_key": {"inline_bytes": base64.b64encode(KEY.encode()).decode()},
            "password": {"inline_string": "hunter2"}}}}]})
    doc["configs"].append({"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
                           "bootstrap": {"node": {"id": "x"}, "note": KEY}})
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    return path


def _leaks(text: str) -> bool:
    import base64

    return ("PRIVATE KEY" in text or "hunter2" in text
            or base64.b64encode(KEY.encode()).decode()[:40] in text)


@pytest.mark.parametrize("args", [[], ["-o", "yaml"], ["--resource", "secrets"],
                                  ["--jsonpath", "$..private_key"],
                                  ["--jsonpath", "$..bootstrap"]])
def test_no_key_material_in_any_output(dump_with_keys, args):
    result = run("config-dump", "--dump", dump_with_keys, *args)
    assert result.code == 0, result.err
    assert not _leaks(result.out)


def test_no_key_material_in_saved_files(dump_with_keys, tmp_path):
    saved = tmp_path / "saved.json"
    result = run("config-dump", "--dump", dump_with_keys, "--save", saved)
    assert result.code == 0
    assert not _leaks(saved.read_text())


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("content,text", [
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
    (b'{"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.Clu', "not valid JSON"),
    (b"[1, 2, 3]", "not an Envoy config dump"),
    (b'"just a string"', "not an Envoy config dump"),
    (b'{"configs": 5}', "not an Envoy config dump"),
    (b'{"cluster_statuses": []}', "this is /clusters output"),
    (b"outbound|8000||a.b.svc.cluster.local::default_priority::max_connections::1024\n",
     "/clusters text output"),
])
@pytest.mark.parametrize("command", ["clusters", "routes", "listeners", "config-dump"])
def test_bad_dump_files(tmp_path, content, text, command):
    path = tmp_path / "dump.json"
    path.write_bytes(content)
    result = run(command, "--dump", path)
    assert result.code == 2, result.err
    assert text in result.err and len(result.err.strip().splitlines()) == 1


def test_v2_shaped_dump_from_an_old_envoy_reads():
    path = DATA / "istio" / "config_dump" / "sidecar" / "ratings-v1-bookinfo-istio1.2.json"
    result = run("clusters", "--dump", path, "-o", "json")
    assert result.code == 0 and len(result.json()["items"]) > 10


@pytest.mark.parametrize("content,text", [
    ("- 1\n- 2\n", "is a list, not a Kubernetes object"),
    ("kind: Service\n", "is not a Kubernetes object"),
    ("apiVersion: v1\nkind: [\n", "not valid YAML or JSON"),
    ("\x00\x01\x02", "binary file"),
])
def test_bad_manifests(tmp_path, content, text):
    path = tmp_path / "objects.yaml"
    path.write_text(content)
    result = run("audit", "-A", "-f", path)
    assert result.code == 2, result.err
    assert text in result.err and len(result.err.strip().splitlines()) == 1


def test_binary_log_file(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"\x00\x01binary")
    result = run("logs", "--log-file", path)
    assert result.code == 2 and "binary file, not a log" in result.err
