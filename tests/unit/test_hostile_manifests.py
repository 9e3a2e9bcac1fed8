"""Hand-written files with fields of the wrong type, given to every command that reads
objects: one line naming the object, the field and the type expected (exit 2), or in
`audit` an `object-malformed` finding while the other objects are still checked."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import DATA, run

BASE = DATA / "no-sidecar-client.yaml"
DESCRIBE = DATA / "istio" / "describe" / "cases" / "03-dr-traffic-policy.inputs.yaml"


def _objects(path: Path) -> list[dict]:
    return [o for o in yaml.safe_load_all(path.read_text()) if o]


def _with(objects: list[dict], kind: str, change) -> list[dict]:
    out = copy.deepcopy(objects)
    target = next(o for o in out if o["kind"] == kind)
    change(target)
    return out


def _write(tmp_path: Path, objects: list[dict]) -> Path:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    return path


# (name, kind, change, the field named in the error)
MUTATIONS = [
    ("dr tls as a string", "DestinationRule",
     lambda o: o["spec"].setdefault("trafficPolicy", {}).update(tls="DISABLE"),
     "spec.trafficPolicy.tls"),
    ("ports as a string", "Service", lambda o: o["spec"].update(ports="8000"), "spec.ports"),
    ("port as a word", "Service", lambda o: o["spec"]["ports"][0].update(port="eighty"),
     "spec.ports[0].port"),
    ("labels as a list", "Pod", lambda o: o["metadata"].update(labels=["app"]),
     "metadata.labels"),
    ("annotations as a string", "Service", lambda o: o["metadata"].update(annotations="x"),
     "metadata.annotations"),
    ("spec as a number", "Service", lambda o: o.update(spec=5), "spec"),
    ("mtls as a string", "PeerAuthentication", lambda o: o["spec"].update(mtls="STRICT"),
     "spec.mtls"),
    ("containers as an object", "Pod",
     lambda o: o["spec"].update(containers={"name": "app"}), "spec.containers"),
    ("selector as a list", "Service", lambda o: o["spec"].update(selector=["app"]),
     "spec.selector"),
]

COMMANDS = [
    ["why-503", "legacy-client", "httpbin", "-n", "foo"],
    ["describe", "httpbin-v1", "-n", "foo"],
    ["check-inject", "legacy-client", "-n", "foo"],
    ["clusters", "legacy-client", "-n", "foo"],
]


def _base_with_dr() -> list[dict]:
    objects = _objects(BASE)
    objects.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                    "metadata": {"name": "httpbin", "namespace": "foo"},
                    "spec": {"host": "httpbin"}})
    return objects


@pytest.mark.parametrize("name,kind,change,field", MUTATIONS, ids=[m[0] for m in MUTATIONS])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_wrong_types_are_one_line_usage_errors(tmp_path, name, kind, change, field, command):
    path = _write(tmp_path, _with(_base_with_dr(), kind, change))
    result = run(*command, "-f", path)
    assert result.code == 2, (result.code, result.err)
    [line] = result.err.strip().splitlines()
    assert f"{kind} " in line and field in line and "expected" in line, line
    assert "internal error" not in line


@pytest.mark.parametrize("name,kind,change,field", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_audit_reports_the_object_and_checks_the_rest(tmp_path, name, kind, change, field):
    objects = _with(_base_with_dr(), kind, change)
    objects.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "tekton", "namespace": "foo"},
                    "spec": {"ports": [{"name": "http", "port": 443}]}})
    result = run("audit", "-A", "-f", _write(tmp_path, objects), "-o", "json")
    assert result.code == 1, result.err
    found = {f["id"]: f for f in result.json()["findings"]}
    assert field in found["object-malformed"]["summary"]
    assert "port-protocol-mismatch" in found  # the other objects were still checked


# --- fuzzing: random wrong types anywhere in real objects -----------------------------------

WRONG = [None, "x", 7, -1, 10 ** 30, 1.5, True, [], ["a"], {}, {"a": [1]}, "²", "1e999"]


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            yield prefix + (i,)
            yield from _paths(item, prefix + (i,))


def _set(obj, path, value):
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10 ** 6), count=st.integers(1, 3),
       source=st.sampled_from([BASE, DESCRIBE]))
def test_random_wrong_types_never_crash(tmp_path, seed, count, source):
    rng = random.Random(seed)
    objects = _objects(source)
    for _ in range(count):
        obj = rng.choice(objects)
        paths = [p for p in _paths(obj) if p[0] not in ("apiVersion", "kind")]
        if paths:
            _set(obj, rng.choice(paths), copy.deepcopy(rng.choice(WRONG)))
    path = _write(tmp_path, objects)
    pod = "legacy-client" if source == BASE else "productpage-v1-1234567890"
    ns = "foo" if source == BASE else "default"
    for command in (["audit", "-A"], ["describe", pod, "-n", ns],
                    ["why-503", pod, "httpbin" if source == BASE else "productpage", "-n", ns],
                    ["check-inject", pod, "-n", ns]):
        result = run(*command, "-f", path)
        assert result.code in (0, 1, 2), (command, result.code, result.err)
        assert "internal error" not in result.err and "Traceback" not in result.err, \
            (command, result.err)


RECURSIVE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: foo, labels: &l [*l]}
spec: &s
  host: httpbin
  trafficPolicy: {loop: *s}
  subsets: &subsets [{name: v1, labels: {version: v1}, more: *subsets}]
"""


def test_recursive_yaml_aliases_end(tmp_path):
    """`&a [*a]` makes a cycle in what PyYAML builds: every command still ends, once."""
    path = tmp_path / "recursive.yaml"
    path.write_text(RECURSIVE)
    for command in (["audit", "-A"], ["audit", "-A", "-o", "json"],
                    ["describe", "sleep", "-n", "foo"]):
        result = run(*command, "-f", str(path))
        assert result.code in (0, 1, 2), (command, result.err)
        assert "internal error" not in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("spec", [
    '{mtls: {mode: STRICT}, portLevelMtls: "8080"}',
    "{mtls: {mode: STRICT}, portLevelMtls: [8080]}",
    "{mtls: {mode: [STRICT]}}",
    '{portLevelMtls: {"8080": {mode: [DISABLE]}}}',
    '{portLevelMtls: {"8080": DISABLE}}',
    '{portLevelMtls: {"8080": [DISABLE]}}',
])
def test_peerauthentication_fields_of_the_wrong_type_are_one_line_usage_errors(tmp_path, spec):
    path = tmp_path / "objects.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: httpbin, namespace: foo}\n"
        "spec: {selector: {app: httpbin}, ports: [{name: http, port: 8000}]}\n---\n"
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        f"metadata: {{name: pa, namespace: foo}}\nspec: {spec}\n")
    result = run("why-503", "x", "httpbin:8000", "-f", str(path), "--admin-url",
                 "foo/x=http://127.0.0.1:9")
    assert result.code == 2, (result.code, result.err)
    assert len(result.err.strip().splitlines()) == 1 and "PeerAuthentication foo/pa" in result.err
