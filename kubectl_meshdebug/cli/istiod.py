"""Reach istiod the way istioctl does: through the API server's port-forward to an istiod
pod's monitoring port, whose debug endpoints answer a client on the pod's localhost.

Read-only: /debug/syncz (what each proxy was sent and acknowledged) and
/debug/config_dump?proxyID= (what istiod would send a proxy now).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from kubectl_meshdebug.errors import MeshdebugError
from kubectl_meshdebug.kube.state import labels, meta

MONITORING_PORT = 15014


class IstiodUnavailable(Exception):
    """Why only the proxy side could be read."""


def istiod_pods(rt: Any) -> list[dict[str, Any]]:
    """Running istiod pods (label app=istiod), as istioctl finds them."""
    if rt.offline or rt.admin_urls:
        raise IstiodUnavailable("offline (-f or --admin-url): istiod was not asked")
    try:
        pods = rt.state().source.list("Pod", rt.istio_namespace)
    except MeshdebugError as exc:
        if "forbidden" in exc.one_line():  # RBAC said so: no need to repeat its words
            raise IstiodUnavailable(f"not allowed to list pods in {rt.istio_namespace}, so "
                                    "istiod was not asked") from exc
        raise IstiodUnavailable(f"istiod's pods could not be listed: {exc.one_line()}") from exc
    running = [p for p in pods if labels(p).get("app") == "istiod"
               and isinstance(p.get("status"), dict) and p["status"].get("phase") == "Running"]
    if not running:
        raise IstiodUnavailable(f"no running istiod pod (app=istiod) in {rt.istio_namespace}")
    return sorted(running, key=lambda p: str(meta(p).get("name", "")))


def istiod_get(rt: Any, pod: dict[str, Any], path: str) -> Any:
    """GET one debug path of this istiod pod, parsed as JSON."""
    from kubectl_meshdebug.jsonload import loads
    from kubectl_meshdebug.transport.choose import pod_transport

    name = str(meta(pod).get("name", ""))
    transport = pod_transport(rt.connection, rt.istio_namespace, name, kind="port-forward",
                              container="discovery", port=MONITORING_PORT,
                              max_bytes=rt.settings.max_answer_bytes)
    try:
        answer = transport.request("GET", path, rt.settings.request_timeout)
    except MeshdebugError as exc:
        if "forbidden" in exc.one_line():
            raise IstiodUnavailable(f"not allowed to port-forward to {rt.istio_namespace}/{name}, "
                                    "so istiod was not asked") from exc
        raise IstiodUnavailable(f"istiod {rt.istio_namespace}/{name}: {exc.one_line()}") from exc
    if answer.status != 200:
        raise IstiodUnavailable(f"istiod {rt.istio_namespace}/{name} answered {answer.status} "
                                f"to {path.split('?')[0]}")
    try:
        return loads(answer.body)
    except ValueError as exc:
        raise IstiodUnavailable(f"istiod {rt.istio_namespace}/{name} sent no JSON for "
                                f"{path.split('?')[0]}") from exc


def first_answer(rt: Any, path: str) -> tuple[str, Any]:
    """(which istiod answered, its answer to path) from the first istiod that answers;
    if none does, why each did not."""
    errors = []
    for pod in istiod_pods(rt):
        try:
            return f"{rt.istio_namespace}/{meta(pod).get('name')}", istiod_get(rt, pod, path)
        except IstiodUnavailable as exc:
            errors.append(str(exc))
    raise IstiodUnavailable("; ".join(errors))


def read_syncz(rt: Any) -> tuple[str, Any]:
    """(which istiod answered, its /debug/syncz)."""
    return first_answer(rt, "/debug/syncz")


def istiod_config_dump(rt: Any, proxy_id: str) -> Any:
    """What istiod would send the proxy NAME.NAMESPACE now."""
    return first_answer(rt, f"/debug/config_dump?proxyID={quote(proxy_id)}")[1]
