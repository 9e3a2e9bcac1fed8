"""LiveSource: objects from the API server through the kubernetes client.

Lists come back as raw JSON (`_preload_content=False`), so objects have exactly the shape
`kubectl get -o json` prints and no time goes into building model objects. Istio CRDs are
asked for at v1, then v1beta1, then v1alpha3; a CRD that exists at none of them means
Istio (or that part of it) is not installed, which is recorded rather than raised.
Every call is bounded by --request-timeout, passed the way the client honours it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from kubectl_meshdebug import jsonload
from kubectl_meshdebug.errors import BadAnswerError, MeshdebugError, UnreachableError
from kubectl_meshdebug.kube.apierrors import translate_api_error
from kubectl_meshdebug.kube.client import Connection
from kubectl_meshdebug.kube.kinds import KINDS, Kind
from kubectl_meshdebug.kube.state import Forbidden

Obj = dict[str, Any]
MAX_LIST_BYTES = 512 * 1024 * 1024


RETRY_AFTER_TRIES = 10  # client-go's rest client default (maxRetries)


def _retry_after(exc: Any) -> float | None:
    """Seconds a 429/503 asks to wait (Retry-After, whole seconds, at least 1), else None."""
    if exc.status not in (429, 503):
        return None
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if not isinstance(value, str) or not value.strip().isascii() or \
            not value.strip().isdigit() or len(value.strip()) > 4:
        return None
    return float(max(1, int(value.strip())))


def _read_within(raw: Any, deadline: float, path: str) -> bytes:
    """The body by what arrives (read1), checked against the call's deadline between
    reads: a server that drips its answer a byte at a time passes every socket timeout
    and would otherwise hold the command for as long as it likes."""
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            if time.monotonic() > deadline:
                raise UnreachableError(
                    f"the API server did not finish answering {path.split('?')[0]} in time",
                    hint="check the cluster is up, or raise --request-timeout")
            chunk = raw.read1(1 << 16)
            if not chunk:
                raw.release_conn()
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_LIST_BYTES:
                raise BadAnswerError(f"the API server answered {path} with more than "
                                     f"{MAX_LIST_BYTES >> 20} MiB")
            chunks.append(chunk)
    except BaseException:
        raw.close()  # half read: the connection cannot go back to the pool
        raise


def _unreachable(what: str, exc: Exception) -> UnreachableError:
    text = " ".join(str(exc).split())
    if "timed out" in text.lower() or "timeout" in exc.__class__.__name__.lower():
        return UnreachableError(f"the API server did not answer {what} in time",
                                hint="check the cluster is up, or raise --request-timeout",
                                detail=text)
    reason = text.rsplit(": ", 1)[-1][:200] if "Connection refused" not in text else \
        "connection refused"
    return UnreachableError(f"cannot reach the API server to {what}: {reason}",
                            hint="check --context/--kubeconfig and your network", detail=text)


# A list of objects' metadata only, as client-go's metadata client asks for it
METADATA_ONLY = ("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
                 "application/json")


class LiveSource:
    live = True

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.missing: set[str] = set()
        self._version: dict[str, str] = {}

    def _path(self, spec: Kind, version: str, namespace: str | None) -> str:
        base = "/api/v1" if spec.is_core else f"/apis/{spec.group}/{version}"
        if namespace and spec.namespaced:
            return f"{base}/namespaces/{quote(namespace)}/{spec.plural}"
        return f"{base}/{spec.plural}"

    def _get(self, path: str, accept: str | None = None) -> bytes:
        """One GET. A 429 or 503 with Retry-After (a control plane that just started, API
        priority and fairness shedding load) is retried as client-go does, up to
        RETRY_AFTER_TRIES times, as long as the wait fits in --request-timeout."""
        from kubernetes.client.exceptions import ApiException

        self.connection.check()
        api = self.connection.api_client()
        budget = time.monotonic() + float(self.connection.cfg.request_timeout)
        for attempt in range(RETRY_AFTER_TRIES):
            try:
                response = api.call_api(
                    path, "GET", auth_settings=["BearerToken"], response_type=None,
                    header_params={"Accept": accept} if accept else None,
                    _preload_content=False, _request_timeout=self.connection.timeout,
                )
                break
            except ApiException as exc:
                wait = _retry_after(exc)
                if wait is None or attempt == RETRY_AFTER_TRIES - 1 or \
                        time.monotonic() + wait > budget:
                    raise
                time.sleep(wait)
        raw = response[0] if isinstance(response, tuple) else response
        if hasattr(raw, "read1"):
            return _read_within(raw, budget, path)
        data = raw.data if hasattr(raw, "data") else raw
        return data if isinstance(data, bytes) else str(data).encode()

    def _get_json(self, path: str, accept: str | None = None) -> Any:
        data = self._get(path, accept)
        if len(data) > MAX_LIST_BYTES:
            raise BadAnswerError(f"the API server answered {path} with {len(data)} bytes")
        try:
            return jsonload.loads(data)
        except ValueError as exc:
            raise BadAnswerError(f"the API server answered {path} with no JSON: {exc}") from exc

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Every object of `kind`, cluster-wide (namespace None) or in one namespace.
        RBAC's refusal is a Forbidden, which ClusterState narrows down."""
        from kubernetes.client.exceptions import ApiException

        spec = KINDS[kind]
        versions = [self._version[spec.group]] if spec.group in self._version else spec.versions
        where = f"in {namespace}" if namespace else "cluster-wide"
        for version in versions:
            try:
                doc = self._get_json(self._path(spec, version, namespace),
                                     METADATA_ONLY if spec.metadata_only else None)
            except ApiException as exc:
                if exc.status == 404:
                    continue
                error = translate_api_error(exc, verb="list", resource=spec.plural,
                                            namespace=namespace if spec.namespaced else None)
                if exc.status == 403:
                    raise Forbidden(error.message, hint=error.hint) from exc
                raise error from exc
            except MeshdebugError:
                raise
            except Exception as exc:  # urllib3 connection errors and timeouts
                raise self.connection.mark_down(
                    _unreachable(f"list {spec.plural} {where}", exc)) from exc
            if not isinstance(doc, dict) or not isinstance(doc.get("items") or [], list):
                raise BadAnswerError(f"the API server's list of {spec.plural} is not a List")
            if spec.group:
                self._version.setdefault(spec.group, version)
            api_version = f"{spec.group}/{version}" if spec.group else version
            items = []
            for item in doc.get("items") or []:
                if isinstance(item, dict):
                    if spec.metadata_only:  # PartialObjectMetadata; data, were it sent, dropped
                        item = {"metadata": item.get("metadata") or {}, "kind": spec.kind}
                    item.setdefault("kind", spec.kind)
                    item.setdefault("apiVersion", api_version)
                    items.append(item)
            return items
        self.missing.add(kind)
        return []

    def read_pod(self, namespace: str, name: str) -> Obj | None:
        from kubernetes.client.exceptions import ApiException

        try:
            pod = self._get_json(f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}")
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise translate_api_error(
                exc, verb="get", resource="pods", namespace=namespace, name=name
            ) from exc
        except MeshdebugError:
            raise
        except Exception as exc:
            raise self.connection.mark_down(
                _unreachable(f"get pod {namespace}/{name}", exc)) from exc
        if not isinstance(pod, dict):
            raise BadAnswerError(f"the API server's pod {namespace}/{name} is not an object")
        pod.setdefault("kind", "Pod")
        pod.setdefault("apiVersion", "v1")
        return pod

    def pod_log(self, namespace: str, name: str, container: str, tail: int) -> str:
        from kubernetes.client.exceptions import ApiException

        path = (f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}/log?"
                f"container={quote(container)}&tailLines={int(tail)}")
        try:
            data = self._get(path)
        except ApiException as exc:
            raise translate_api_error(
                exc, verb="get", resource="pods/log", namespace=namespace, name=name
            ) from exc
        except MeshdebugError:
            raise
        except Exception as exc:  # urllib3 connection errors and timeouts
            raise self.connection.mark_down(
                _unreachable(f"read the log of {namespace}/{name}", exc)) from exc
        return data.decode("utf-8", "replace")

    def follow_log(self, namespace: str, name: str, container: str,
                   since_seconds: int = 1) -> Iterator[bytes]:
        """The container's log as it is written (`kubectl logs -f`), in chunks."""
        from kubernetes.client.exceptions import ApiException

        path = (f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}/log?"
                f"container={quote(container)}&follow=true&sinceSeconds={int(since_seconds)}")
        self.connection.check()
        api = self.connection.api_client()
        try:
            response = api.call_api(
                path, "GET", auth_settings=["BearerToken"], response_type=None,
                _preload_content=False,
                _request_timeout=(self.connection.timeout[0], None),
            )
        except ApiException as exc:
            raise translate_api_error(
                exc, verb="get", resource="pods/log", namespace=namespace, name=name
            ) from exc
        except Exception as exc:
            raise self.connection.mark_down(
                _unreachable(f"follow the log of {namespace}/{name}", exc)) from exc
        raw = response[0] if isinstance(response, tuple) else response
        try:
            yield from raw.stream(4096)
        finally:
            raw.release_conn()
