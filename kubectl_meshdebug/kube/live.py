"""LiveSource: objects from the API server through the kubernetes client.

Lists come back as raw JSON (`_preload_content=False`), so objects have exactly the shape
`kubectl get -o json` prints and no time goes into building model objects. Istio CRDs are
asked for at v1, then v1beta1, then v1alpha3; a CRD that exists at none of them means
Istio (or that part of it) is not installed, which is recorded rather than raised.
"""

from __future__ import annotations

import json
from typing import Any

from kubectl_meshdebug.errors import UnreachableError
from kubectl_meshdebug.kube.apierrors import translate_api_error
from kubectl_meshdebug.kube.kinds import KINDS, Kind

Obj = dict[str, Any]


class LiveSource:
    live = True

    def __init__(self, api_client: Any, namespaces: list[str] | None = None,
                 timeout: float = 30.0) -> None:
        self.api_client = api_client
        self.namespaces = namespaces  # None: cluster-wide
        self.timeout = timeout
        self.missing: set[str] = set()
        self._version: dict[str, str] = {}

    def _path(self, spec: Kind, version: str, namespace: str | None) -> str:
        base = "/api/v1" if spec.is_core else f"/apis/{spec.group}/{version}"
        if namespace and spec.namespaced:
            return f"{base}/namespaces/{namespace}/{spec.plural}"
        return f"{base}/{spec.plural}"

    def _get_json(self, path: str) -> Any:
        response = self.api_client.call_api(
            path, "GET", auth_settings=["BearerToken"], response_type=None,
            _preload_content=False, _request_timeout=self.timeout,
        )
        raw = response[0] if isinstance(response, tuple) else response
        data = raw.data if hasattr(raw, "data") else raw
        return json.loads(data)

    def _list_at(self, spec: Kind, version: str) -> list[Obj]:
        from kubernetes.client.exceptions import ApiException

        scopes = [None] if self.namespaces is None or not spec.namespaced else self.namespaces
        items: list[Obj] = []
        for ns in scopes:
            try:
                doc = self._get_json(self._path(spec, version, ns))
            except ApiException as exc:
                if exc.status == 403 and ns is None and self.namespaces is None:
                    raise translate_api_error(
                        exc, verb="list", resource=spec.plural, namespace=None
                    ) from exc
                raise
            api_version = f"{spec.group}/{version}" if spec.group else version
            for item in doc.get("items") or []:
                item.setdefault("kind", spec.kind)
                item.setdefault("apiVersion", api_version)
                items.append(item)
        return items

    def list(self, kind: str) -> list[Obj]:
        from kubernetes.client.exceptions import ApiException

        spec = KINDS[kind]
        versions = [self._version[spec.group]] if spec.group in self._version else spec.versions
        for version in versions:
            try:
                items = self._list_at(spec, version)
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise translate_api_error(
                    exc, verb="list", resource=spec.plural,
                    namespace=(self.namespaces or [None])[0] if spec.namespaced else None,
                ) from exc
            except UnreachableError:
                raise
            except Exception as exc:  # urllib3 connection errors
                raise UnreachableError(
                    f"cannot reach the API server to list {spec.plural}: {exc}",
                    hint="check --context/--kubeconfig and your network",
                ) from exc
            if spec.group:
                self._version.setdefault(spec.group, version)
            return items
        self.missing.add(kind)
        return []

    def read_pod(self, namespace: str, name: str) -> Obj | None:
        from kubernetes.client.exceptions import ApiException

        try:
            pod = self._get_json(f"/api/v1/namespaces/{namespace}/pods/{name}")
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise translate_api_error(
                exc, verb="get", resource="pods", namespace=namespace, name=name
            ) from exc
        except Exception as exc:
            raise UnreachableError(
                f"cannot reach the API server to get pod {namespace}/{name}: {exc}",
                hint="check --context/--kubeconfig and your network",
            ) from exc
        pod.setdefault("kind", "Pod")
        pod.setdefault("apiVersion", "v1")
        return pod

    def pod_log(self, namespace: str, name: str, container: str, tail: int) -> str:
        from kubernetes.client.exceptions import ApiException

        path = (
            f"/api/v1/namespaces/{namespace}/pods/{name}/log?container={container}"
            f"&tailLines={tail}"
        )
        try:
            response = self.api_client.call_api(
                path, "GET", auth_settings=["BearerToken"], response_type=None,
                _preload_content=False, _request_timeout=self.timeout,
            )
        except ApiException as exc:
            raise translate_api_error(
                exc, verb="get", resource="pods/log", namespace=namespace, name=name
            ) from exc
        except Exception as exc:  # urllib3 connection errors and timeouts
            raise UnreachableError(
                f"cannot reach the API server to read the log of {namespace}/{name}: {exc}",
                hint="check --context/--kubeconfig and your network",
            ) from exc
        raw = response[0] if isinstance(response, tuple) else response
        data = raw.data if hasattr(raw, "data") else raw
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
