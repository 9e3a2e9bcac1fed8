"""Targets as kubectl writes them: `NAME`, `pod/NAME`, `deploy/NAME` (one ready pod), `svc/NAME`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.kube.kinds import WORKLOAD_KINDS
from kubectl_meshdebug.kube.state import ClusterState, label_selector_matches, labels, meta

PROXY_CONTAINER = "istio-proxy"
_POD_WORDS = {"pod", "pods", "po"}
_SVC_WORDS = {"svc", "service", "services"}
_NS_WORDS = {"ns", "namespace", "namespaces"}


@dataclass(frozen=True)
class TargetRef:
    kind: str  # Pod, Service, or a workload kind
    name: str
    namespace: str | None = None


_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def check_name(name: str, what: str = "name") -> str:
    """Kubernetes names are DNS-1123 subdomains: this also keeps `..`, `/`, `;` and the
    like out of the API and admin paths built from them."""
    if not _DNS_SUBDOMAIN.fullmatch(name) or ".." in name:
        raise UsageError(f"{what} {name!r} is not a valid Kubernetes name")
    return name


def parse_target(text: str) -> TargetRef:
    """`pod/x`, `deploy/x`, `svc/x`, `x`, and the `x.ns` form for pods and services."""
    if not text or any(c.isspace() for c in text):
        raise UsageError(f"target {text!r} is not a resource name")
    word, sep, name = text.partition("/")
    if not sep:
        return TargetRef("Pod", check_name(text, "pod name"))
    word = word.lower()
    if not name or "/" in name:
        raise UsageError(f"target {text!r} is not TYPE/NAME")
    check_name(name)
    if word in _POD_WORDS:
        return TargetRef("Pod", name)
    if word in _SVC_WORDS:
        return TargetRef("Service", name)
    if word in _NS_WORDS:
        return TargetRef("Namespace", name)
    if word in WORKLOAD_KINDS:
        return TargetRef(WORKLOAD_KINDS[word], name)
    raise UsageError(
        f"unsupported target type {word!r}",
        hint="use NAME, pod/NAME, deploy/NAME, sts/NAME, ds/NAME, rs/NAME or svc/NAME",
    )


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def dotted_pod(name: str) -> tuple[str, str] | None:
    """istioctl's POD.NAMESPACE, read at the last dot: (pod, namespace), or None when the
    name has no dot or the part after it cannot be a namespace. Pod names may hold dots
    themselves, so callers try the name as written first."""
    pod, dot, namespace = name.rpartition(".")
    if not dot or not pod or not _DNS_LABEL.fullmatch(namespace):
        return None
    return pod, namespace


def close_names(name: str, names: list[str]) -> str:
    import difflib

    near = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    return f"did you mean {', '.join(near)}?" if near else ""


def is_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    conditions = status.get("conditions")
    if conditions is None:
        return True
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def workload_selector(obj: dict[str, Any]) -> dict[str, Any]:
    return ((obj.get("spec") or {}).get("selector")) or {}


def pods_of_workload(state: ClusterState, kind: str, name: str, namespace: str) -> list[dict]:
    obj = state.get(kind, namespace, name)
    if obj is None:
        hint = close_names(name, state.names(kind, namespace))
        raise UsageError(f"{kind.lower()} {namespace}/{name} not found", hint=hint)
    if kind == "Service":
        return service_pods(state, obj)
    selector = workload_selector(obj)
    return [p for p in state.list("Pod", namespace) if label_selector_matches(selector, labels(p))
            and selector]


def service_pods(state: ClusterState, service: dict[str, Any],
                 extra: dict[str, str] | None = None) -> list[dict]:
    """The pods a Service selects (plus `extra` labels, for a subset); a Service without a
    selector selects none, as Kubernetes has it."""
    selector = dict((service.get("spec") or {}).get("selector") or {})
    if not selector:
        return []
    selector.update(extra or {})
    return [p for p in state.list("Pod", meta(service).get("namespace"))
            if all(labels(p).get(k) == v for k, v in selector.items())]


def pick_pod(pods: list[dict], what: str) -> dict:
    """kubectl's choice for deploy/NAME: a ready pod, the oldest first."""
    if not pods:
        raise UsageError(f"{what} has no pods")
    ready = [p for p in pods if is_ready(p)]
    chosen = sorted(ready or pods, key=lambda p: meta(p).get("creationTimestamp") or "")
    return chosen[0]


def proxy_container(pod: dict[str, Any], container: str = PROXY_CONTAINER) -> dict | None:
    """The proxy container: in containers, then initContainers (native sidecars)."""
    spec = pod.get("spec") or {}
    for group in ("containers", "initContainers"):
        for c in spec.get(group) or []:
            if c.get("name") == container:
                return c
    return None


def is_gateway_pod(pod: dict[str, Any] | None, container: str = PROXY_CONTAINER) -> bool:
    """An Istio gateway (its proxy runs `proxy router`; istio=ingressgateway by default)."""
    if not pod:
        return False
    if labels(pod).get("istio") in ("ingressgateway", "egressgateway"):
        return True
    proxy = proxy_container(pod, container)
    args = proxy.get("args") if isinstance(proxy, dict) else None
    return isinstance(args, list) and "router" in args
