"""Checks that report something as missing (a namespace, a service account) must not do so
when RBAC kept the tool from listing that kind: a user with a namespace Role would
otherwise be told that every namespace and principal in their policies does not exist."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_meshdebug.checks.runner import run_audit
from kubectl_meshdebug.kube.state import ClusterState, Forbidden, ManifestSource

POLICY = {
    "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
    "metadata": {"name": "allow-callers", "namespace": "foo"},
    "spec": {"rules": [{"from": [{"source": {
        "principals": ["cluster.local/ns/bar/sa/caller"], "namespaces": ["bar"]}}]}]},
}
EXPORTED = {
    "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
    "metadata": {"name": "httpbin", "namespace": "foo"},
    "spec": {"host": "httpbin", "exportTo": ["bar"]},
}
OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "httpbin", "namespace": "foo"},
     "spec": {"ports": [{"name": "http", "port": 8000}], "selector": {"app": "httpbin"}}},
    POLICY, EXPORTED,
]
MISSING = {"authz-principal-not-found", "authz-namespace-not-found",
           "exportto-namespace-not-found"}


class LiveCluster:
    """The objects as a cluster serves them, refusing some lists as RBAC would."""

    live = True

    def __init__(self, objects: list[dict[str, Any]], refused: set[str]) -> None:
        self.files = ManifestSource(objects)
        self.refused = refused

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        if kind in self.refused:
            raise Forbidden(f"forbidden: you may not list {kind}")
        found = self.files.list(kind)
        if namespace is None:
            return found
        return [o for o in found if o["metadata"].get("namespace") == namespace]


def ids(refused: set[str]) -> set[str]:
    state = ClusterState(LiveCluster(OBJECTS, refused), ["foo"], root="istio-system")
    return {f.id for f in run_audit(state, "foo")[1]}


def test_a_cluster_that_lacks_them_reports_namespace_and_account():
    assert MISSING <= ids(set())


@pytest.mark.parametrize("refused", [{"Namespace", "ServiceAccount"}])
def test_unreadable_namespaces_and_accounts_are_not_missing(refused):
    assert not MISSING & ids(refused)
