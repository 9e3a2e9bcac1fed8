"""istioctl's POD.NAMESPACE form is accepted wherever a pod is named; a pod whose own name
holds a dot is still found by that name."""

from __future__ import annotations

import yaml

from tests.helpers import run


def _pod(name: str, namespace: str, app: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
            "spec": {"containers": [{"name": app, "image": app},
                                    {"name": "istio-proxy", "image": "proxyv2"}]},
            "status": {"phase": "Running"}}


def _objects(tmp_path, *pods: dict) -> str:
    namespaces = sorted({p["metadata"]["namespace"] for p in pods})
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns,
             "labels": {"istio-injection": "enabled"}}} for ns in namespaces] + list(pods)
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def test_describe_and_check_inject_read_pod_dot_namespace(tmp_path):
    objects = _objects(tmp_path, _pod("reviews-v1-7d9", "bookinfo", "reviews"))
    described = run("describe", "reviews-v1-7d9.bookinfo", "-n", "default", "-f", objects,
                    "-o", "json")
    assert described.code == 0, described.err
    assert described.json()["pod"] == "bookinfo/reviews-v1-7d9"
    injected = run("check-inject", "reviews-v1-7d9.bookinfo", "-f", objects, "-o", "json")
    assert injected.code == 0, injected.err
    assert "bookinfo/reviews-v1-7d9" in injected.out


def test_a_pod_named_with_a_dot_is_taken_as_written(tmp_path):
    objects = _objects(tmp_path, _pod("web.v2", "default", "web"), _pod("web", "v2", "other"))
    result = run("describe", "web.v2", "-n", "default", "-f", objects, "-o", "json")
    assert result.code == 0, result.err
    assert result.json()["pod"] == "default/web.v2"


def test_neither_reading_exists_names_the_namespace_form(tmp_path):
    objects = _objects(tmp_path, _pod("sleep", "foo", "sleep"))
    result = run("describe", "nosuch.foo", "-n", "default", "-f", objects)
    assert result.code == 2 and "pod foo/nosuch not found" in result.err, result.err


def test_admin_url_pods_answer_to_pod_dot_namespace(tmp_path):
    objects = _objects(tmp_path, _pod("sleep", "foo", "sleep"))
    result = run("clusters", "sleep.foo", "-f", objects, "--admin-url",
                 "foo/sleep=http://127.0.0.1:1", "--request-timeout", "2s")
    assert result.code == 3, result.err
    assert "refused at http://127.0.0.1:1" in result.err and "not found" not in result.err


def test_the_namespace_after_the_dot_is_not_guessed_away(tmp_path):
    """sleep.bar names bar's sleep, never the only --admin-url pod called sleep (foo's)."""
    objects = _objects(tmp_path, _pod("sleep", "foo", "sleep"))
    result = run("clusters", "sleep.bar", "-f", objects, "--admin-url",
                 "foo/sleep=http://127.0.0.1:1", "--request-timeout", "2s")
    assert result.code == 2 and "pod bar/sleep not found" in result.err, result.err
