"""A few REST calls to the test API server, as the cluster admin, to set the stage.

Only the harness uses this (creating the Node, CRDs, RBAC and the lab's objects); the
plugin under test talks to the API server through its own code and the kubernetes client.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

# kind -> (API prefix, plural, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Node": ("/api/v1", "nodes", False),
    "Pod": ("/api/v1", "pods", True),
    "Service": ("/api/v1", "services", True),
    "Endpoints": ("/api/v1", "endpoints", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Event": ("/api/v1", "events", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions",
                                 False),
    "MutatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1",
                                     "mutatingwebhookconfigurations", False),
    "DestinationRule": ("/apis/networking.istio.io/v1", "destinationrules", True),
    "VirtualService": ("/apis/networking.istio.io/v1", "virtualservices", True),
    "ServiceEntry": ("/apis/networking.istio.io/v1", "serviceentries", True),
    "Sidecar": ("/apis/networking.istio.io/v1", "sidecars", True),
    "Gateway": ("/apis/networking.istio.io/v1", "gateways", True),
    "PeerAuthentication": ("/apis/security.istio.io/v1", "peerauthentications", True),
    "AuthorizationPolicy": ("/apis/security.istio.io/v1", "authorizationpolicies", True),
    "EnvoyFilter": ("/apis/networking.istio.io/v1alpha3", "envoyfilters", True),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "Secret": ("/api/v1", "secrets", True),
}


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class KubeApi:
    """JSON over HTTPS with the admin's client certificate."""

    def __init__(self, host: str, port: int, pki: Path) -> None:
        self.host, self.port = host, port
        self.ssl = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ssl.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json", timeout: float = 30) -> Any:
        """One call; a 429 (a starting API server, a CRD whose storage is still
        initialising) is retried for up to 20 s, as client-go does."""
        deadline = time.monotonic() + 20
        while True:
            try:
                return self._request(method, path, body, content_type, timeout)
            except ApiError as exc:
                if exc.status != 429 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _request(self, method: str, path: str, body: Any, content_type: str,
                 timeout: float) -> Any:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ssl,
                                           timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=payload, headers={"Content-Type": content_type,
                                                              "Accept": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            try:
                message = json.loads(data).get("message", "")
            except ValueError:
                message = data.decode(errors="replace")
            raise ApiError(resp.status, f"{method} {path}: {message}")
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode(errors="replace")

    @staticmethod
    def path(kind: str, namespace: str | None = None, name: str | None = None) -> str:
        prefix, plural, namespaced = RESOURCES[kind]
        out = prefix
        if namespaced and namespace:
            out += f"/namespaces/{quote(namespace)}"
        out += f"/{plural}"
        if name:
            out += f"/{quote(name)}"
        return out

    def create(self, obj: dict[str, Any]) -> Any:
        meta = obj.get("metadata") or {}
        return self.request("POST", self.path(obj["kind"], meta.get("namespace")), obj)

    def ensure(self, obj: dict[str, Any]) -> None:
        """Create, or leave what exists (namespaces, service accounts, RBAC)."""
        try:
            self.create(obj)
        except ApiError as exc:
            if exc.status != 409:
                raise

    def replace(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        try:
            self.create(obj)
        except ApiError as exc:
            if exc.status != 409:
                raise
            current = self.get(obj["kind"], meta.get("namespace"), meta["name"])
            updated = dict(obj, metadata=dict(meta, resourceVersion=current["metadata"][
                "resourceVersion"]))
            self.request("PUT", self.path(obj["kind"], meta.get("namespace"), meta["name"]),
                         updated)

    def get(self, kind: str, namespace: str | None, name: str) -> Any:
        return self.request("GET", self.path(kind, namespace, name))

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.request("GET", self.path(kind, namespace))["items"]

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        try:
            self.request("DELETE", self.path(kind, namespace, name) + "?gracePeriodSeconds=0",
                         {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
        except ApiError as exc:
            if exc.status != 404:
                raise

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.request("PATCH", self.path(kind, namespace, name) + "/status", {"status": status},
                     content_type="application/merge-patch+json")

    def token(self, namespace: str, service_account: str, audience: str,
              pod: str | None = None, seconds: int = 3600) -> str:
        """A projected service-account token, as the kubelet mounts for istio-token."""
        spec: dict[str, Any] = {"audiences": [audience], "expirationSeconds": seconds}
        if pod is not None:
            uid = self.get("Pod", namespace, pod)["metadata"]["uid"]
            spec["boundObjectRef"] = {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": uid}
        path = self.path("ServiceAccount", namespace, service_account) + "/token"
        answer = self.request("POST", path, {"apiVersion": "authentication.k8s.io/v1",
                                             "kind": "TokenRequest", "spec": spec})
        return answer["status"]["token"]

    def wait_established(self, crd_names: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = set(crd_names)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                crd = self.get("CustomResourceDefinition", None, name)
                conditions = (crd.get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Established" and c.get("status") == "True"
                       for c in conditions):
                    pending.discard(name)
            if pending:
                time.sleep(0.1)
        if pending:
            raise RuntimeError(f"CRDs not established after {timeout}s: {sorted(pending)}")
