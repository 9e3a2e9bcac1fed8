"""The kubernetes client failing at every call site, bad input of every kind, injection
attempts and secrets: one line, the right exit code, nothing changed, nothing leaked."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from tests.helpers import DATA, run
from tests.unit.test_exec_transport import SUCCESS, FakeExecStream
from tests.unit.test_live_cluster import DESCRIBE, FakeApiServer, objects_from

POD = "productpage-v1-1234567890"


def _api_error(status):
    exc = ApiException(status=status, reason="x")
    exc.body = json.dumps({"message": f"status {status}"})
    return exc


ERRORS = {
    "401": (_api_error(401), 3, "rejected your credentials"),
    "403": (_api_error(403), 3, "forbidden"),
    "404": (_api_error(404), None, ""),
    "500": (_api_error(500), 3, "answered 500"),
    "refused": (urllib3.exceptions.MaxRetryError(None, "/", "Connection refused"), 3,
                "cannot reach the API server"),
    "timeout": (urllib3.exceptions.ReadTimeoutError(None, "/", "Read timed out"), 3, ""),
}


class FailingApi(FakeApiServer):
    def __init__(self, objects, fail_prefix, error):
        super().__init__(objects)
        self.fail_prefix, self.error = fail_prefix, error

    def __call__(self, path, method, *args, **kwargs):
        if path.startswith(self.fail_prefix):
            raise self.error
        return super().__call__(path, method, *args, **kwargs)


SITES = {
    # site: (argv, API path prefix that fails or None, patch target, 404 exit code)
    "list": (["audit", "-A"], "/api/v1/services", None, 1),
    "get pod": (["clusters", POD, "-n", "default"], f"/api/v1/namespaces/default/pods/{POD}",
                None, 2),
    "exec": (["clusters", POD, "-n", "default"], None, "kubernetes.stream.stream", 2),
    "port-forward": (["clusters", POD, "-n", "default", "--transport", "port-forward"], None,
                     "kubernetes.stream.portforward", 2),
    "pod log": (["logs", POD, "-n", "default"], "/api/v1/namespaces/default/pods/"
                f"{POD}/log", None, 2),
}


@pytest.mark.parametrize("error", sorted(ERRORS))
@pytest.mark.parametrize("site", sorted(SITES))
def test_kubernetes_failure_at_every_call_site(mocker, site, error):
    argv, prefix, patch, code_404 = SITES[site]
    exc, code, text = ERRORS[error]
    objects = objects_from(DESCRIBE)
    server = FailingApi(objects, prefix or "/never", exc)
    mocker.patch("kubernetes.config.load_kube_config", return_value=None)
    mocker.patch("kubernetes.client.ApiClient.call_api", side_effect=server)
    if patch:
        mocker.patch(patch, side_effect=exc)
    result = run(*argv)
    expected = code_404 if error == "404" else code
    assert result.code == expected, (result.code, result.err)
    assert "Traceback" not in result.err and "internal error" not in result.err
    if expected:
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert text in result.err


# --- injection safety ---------------------------------------------------------------------

@pytest.fixture
def exec_recorder(mocker):
    """A live pod whose exec stream records every argv and answers like Envoy."""
    mocker.patch("kubernetes.config.load_kube_config", return_value=None)
    mocker.patch("kubernetes.client.ApiClient.call_api",
                 side_effect=FakeApiServer(objects_from(DESCRIBE)))
    calls: list[list[str]] = []

    def stream(func, name, namespace, **kwargs):
        argv = kwargs["command"]
        calls.append(argv)
        body = b"active loggers:\n  router: info\n  admin: info\n" if "logging" in argv[3] \
            else b"server.live: 1\n"
        return FakeExecStream([body], [], SUCCESS)

    mocker.patch("kubernetes.stream.stream", side_effect=stream)
    return calls


def test_regex_metacharacters_stay_inside_the_filter(exec_recorder):
    result = run("stats", POD, "-n", "default", "--filter", "a&usedonly=1|b;c\nd")
    assert result.code == 0, result.err
    [argv] = exec_recorder
    assert argv[:3] == ["pilot-agent", "request", "GET"]
    assert argv[3] == "stats?filter=a%26usedonly%3D1%7Cb%3Bc%0Ad"


def test_logger_spec_with_shell_syntax_changes_nothing(exec_recorder):
    result = run("loglevel", POD, "-n", "default", "router:debug;rm -rf /")
    assert result.code == 2 and "unknown log level" in result.err
    assert [a[3] for a in exec_recorder] == ["logging"]  # the read, no write


@pytest.mark.parametrize("name", ["..", "a/../b", "x;ls", "pod$(id)", "UPPER", "a\nb"])
def test_names_that_are_not_kubernetes_names_never_reach_a_path(exec_recorder, name):
    result = run("loglevel", name, "-n", "default")
    assert result.code == 2 and exec_recorder == []
    namespaced = run("loglevel", "x", "-n", name)
    assert namespaced.code == 2 and exec_recorder == []


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
