"""Turn Settings into the things commands use: namespace, ClusterState, proxies, printer.

Nothing here is built until a command asks, so `--admin-url` and `--dump` runs never
import the kubernetes client and `-f` runs never touch the API server.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from kubectl_meshdebug.cli.options import Settings
from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.errors import MeshdebugError, UnreachableError, UsageError
from kubectl_meshdebug.kube.client import KubeConfig, current_namespace
from kubectl_meshdebug.kube.state import ClusterState, ManifestSource, labels, meta
from kubectl_meshdebug.kube.targets import (
    TargetRef,
    close_names,
    parse_target,
    pick_pod,
    pods_of_workload,
    proxy_container,
)
from kubectl_meshdebug.render.output import Printer

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Proxy:
    """One sidecar: which pod it is, the pod object when known, and its admin client."""

    namespace: str
    name: str
    pod: dict[str, Any] | None
    admin: AdminClient

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_admin_urls(values: Iterable[str]) -> dict[tuple[str | None, str], str]:
    out: dict[tuple[str | None, str], str] = {}
    for value in values:
        key, sep, url = value.partition("=")
        if not sep or not key or not url:
            raise UsageError(f"--admin-url {value!r} is not [NS/]POD=URL")
        ns, slash, pod = key.rpartition("/")
        out[(ns if slash else None, pod)] = url
    return out


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kube = KubeConfig(settings.kubeconfig, settings.context, settings.request_timeout)
        self.admin_urls = parse_admin_urls(settings.admin_urls)
        self._namespace: str | None = None
        self._state: ClusterState | None = None
        self._api_client: Any = None
        self.printer = Printer(settings.output, color=False if settings.no_color else None)

    def require_output(self, allowed: tuple[str, ...] = ("table", "wide", "json", "yaml")) -> str:
        if self.settings.output not in allowed:
            raise UsageError(f"-o {self.settings.output} is not available here",
                             hint=f"use one of {', '.join(allowed)}")
        return self.settings.output

    # scope -------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        if self._namespace is None:
            from kubectl_meshdebug.kube.targets import check_name

            self._namespace = check_name(
                self.settings.namespace or current_namespace(self.kube), "namespace")
        return self._namespace

    @property
    def offline(self) -> bool:
        return bool(self.settings.manifests)

    def api_client(self) -> Any:
        if self._api_client is None:
            from kubectl_meshdebug.kube.client import load_api_client

            self._api_client = load_api_client(self.kube)
        return self._api_client

    def state(self) -> ClusterState:
        if self._state is None:
            if self.offline:
                from kubectl_meshdebug.kube.manifests import load_manifests

                objects = load_manifests(self.settings.manifests)
                self._state = ClusterState(ManifestSource(objects, self.namespace))
            else:
                from kubectl_meshdebug.kube.live import LiveSource

                self._state = ClusterState(
                    LiveSource(self.api_client(), None, self.settings.request_timeout)
                )
        return self._state

    def has_cluster_view(self) -> bool:
        """True when objects can be read: -f given, or no --admin-url shortcut in use."""
        return self.offline or not self.admin_urls

    # proxies -----------------------------------------------------------------------
    def _direct_url(self, namespace: str, name: str) -> tuple[str, str] | None:
        """(namespace, url) of a --admin-url entry for this pod, if any.

        `NS/POD=URL` matches that namespace; `POD=URL` matches any. Without -n, a pod name
        given in exactly one `NS/POD` entry takes that entry's namespace.
        """
        exact = self.admin_urls.get((namespace, name))
        if exact is not None:
            return namespace, exact
        if (None, name) in self.admin_urls:
            return namespace, self.admin_urls[(None, name)]
        if not self.settings.namespace:
            named = [(ns, url) for (ns, pod), url in self.admin_urls.items() if pod == name]
            if len(named) == 1 and named[0][0] is not None:
                return str(named[0][0]), named[0][1]
        return None

    def admin_client(self, transport: Any) -> AdminClient:
        return AdminClient(transport, timeout=self.settings.request_timeout)

    def proxy(self, target: str) -> Proxy:
        ref = parse_target(target)
        namespace = ref.namespace or self.namespace
        if ref.kind == "Pod":
            direct = self._direct_url(namespace, ref.name)
            if direct is not None:
                return self._direct_proxy(direct[0], ref.name, direct[1])
        pod = self._resolve_pod(ref, namespace)
        return self.proxy_for_pod(pod)

    def _direct_proxy(self, namespace: str, name: str, url: str) -> Proxy:
        from kubectl_meshdebug.transport.direct import DirectTransport

        pod = self.state().get("Pod", namespace, name) if self.offline else None
        return Proxy(namespace, name, pod, self.admin_client(DirectTransport(url)))

    def _resolve_pod(self, ref: TargetRef, namespace: str) -> dict[str, Any]:
        if ref.kind == "Pod":
            if self.offline:
                pod = self.state().get("Pod", namespace, ref.name)
            else:
                pod = self._live_source().read_pod(namespace, ref.name)
            if pod is None:
                hint = close_names(ref.name, self.state().names("Pod", namespace))
                raise UsageError(
                    f"pod {namespace}/{ref.name} not found",
                    hint=hint or f"list them with: kubectl get pods -n {namespace}",
                )
            return pod
        pods = pods_of_workload(self.state(), ref.kind, ref.name, namespace)
        return pick_pod(pods, f"{ref.kind.lower()} {namespace}/{ref.name}")

    def _live_source(self) -> Any:
        return self.state().source

    def proxy_for_pod(self, pod: dict[str, Any]) -> Proxy:
        m = meta(pod)
        namespace, name = m.get("namespace", self.namespace), m.get("name", "")
        direct = self._direct_url(namespace, name)
        if direct is not None:
            return self._direct_proxy(namespace, name, direct[1])
        self.require_proxy_container(pod)
        if self.offline:
            raise UsageError(
                f"offline (-f) there is no way to reach the proxy of {namespace}/{name}",
                hint=f"add --admin-url {namespace}/{name}=http://HOST:PORT, or use --dump FILE",
            )
        phase = (pod.get("status") or {}).get("phase")
        if phase != "Running":
            raise UnreachableError(
                f"pod {namespace}/{name} is {phase or 'not running'}",
                hint=f"see: kubectl describe pod {name} -n {namespace}",
            )
        from kubernetes import client as kclient

        core = kclient.CoreV1Api(self.api_client())
        if self.settings.transport == "port-forward":
            from kubectl_meshdebug.transport.portforward import PortForwardTransport

            transport: Any = PortForwardTransport(core, namespace, name, self.settings.admin_port)
        else:
            from kubectl_meshdebug.transport.exec import ExecTransport

            transport = ExecTransport(
                core, namespace, name, self.settings.container, self.settings.admin_port
            )
        return Proxy(namespace, name, pod, self.admin_client(transport))

    def require_proxy_container(self, pod: dict[str, Any]) -> dict[str, Any]:
        container = proxy_container(pod, self.settings.container)
        if container is not None:
            return container
        m = meta(pod)
        namespace = m.get("namespace", "")
        ns_obj = self.state().get("Namespace", None, namespace)
        ns_labels = labels(ns_obj) if ns_obj else {}
        if "istio-injection" in ns_labels or "istio.io/rev" in ns_labels:
            why = (
                f"namespace {namespace} has "
                + ", ".join(f"{k}={ns_labels[k]}" for k in ("istio-injection", "istio.io/rev")
                            if k in ns_labels)
                + "; the pod was created before, or injection was skipped"
            )
        elif ns_obj is not None:
            why = f"namespace {namespace} has no istio-injection or istio.io/rev label"
        else:
            why = "injection state of the namespace unknown"
        raise UsageError(
            f"pod {namespace}/{m.get('name')} has no {self.settings.container} container ({why})",
            hint=f"run: kubectl meshdebug check-inject {m.get('name')} -n {namespace}",
        )

    def proxies_by_selector(self, selector: str) -> list[Proxy]:
        """Every pod matching -l in the namespace (or all with -A) that has a proxy."""
        wanted = parse_selector(selector) if selector else []  # "" with -A: every proxy
        ns = None if self.settings.all_namespaces else self.namespace
        pods = [
            p for p in self.state().list("Pod", ns)
            if all(_selector_term(labels(p), term) for term in wanted)
        ]
        pods = [p for p in pods if proxy_container(p, self.settings.container) is not None]
        if not pods:
            where = "any namespace" if ns is None else f"namespace {ns}"
            what = f"match -l {selector} " if selector else ""
            raise UsageError(f"no pods with an {self.settings.container} container {what}"
                             f"in {where}")
        pods.sort(key=lambda p: (meta(p).get("namespace", ""), meta(p).get("name", "")))
        return [self.proxy_for_pod(p) for p in pods]

    def proxies(self, targets: list[str], selector: str | None) -> list[Proxy]:
        if selector and targets:
            raise UsageError("give pod names or -l/--selector, not both")
        if selector is not None and (selector or self.settings.all_namespaces):
            return self.proxies_by_selector(selector)
        if not targets:
            raise UsageError("no target pod given", hint="name a pod, or use -l/--selector")
        return [self.proxy(t) for t in targets]

    # concurrency -------------------------------------------------------------------
    def fan_out(self, items: list[T], work: Callable[[T], R],
                progress: str | None = None) -> list[R | MeshdebugError]:
        """Run `work` on every item with bounded concurrency; results keep input order."""
        if len(items) <= 1:
            out: list[R | MeshdebugError] = []
            for item in items:
                try:
                    out.append(work(item))
                except MeshdebugError as exc:
                    out.append(exc)
            return out
        results: list[R | MeshdebugError] = [None] * len(items)  # type: ignore[list-item]
        done = 0
        show = progress is not None and self.printer.err.isatty()

        def run(index: int) -> None:
            nonlocal done
            try:
                results[index] = work(items[index])
            except MeshdebugError as exc:
                results[index] = exc
            done += 1
            if show:
                self.printer.err.write(f"\r{progress} {done}/{len(items)}")
                self.printer.err.flush()

        with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(items))) as pool:
            list(pool.map(run, range(len(items))))
        if show:
            self.printer.err.write("\r" + " " * (len(progress or "") + 12) + "\r")
        return results


def parse_selector(text: str) -> list[tuple[str, str, str]]:
    """`app=x,tier!=db,version` -> terms; the subset of kubectl's syntax people use."""
    terms = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            k, v = part.split("!=", 1)
            terms.append((k.strip(), "!=", v.strip()))
        elif "==" in part or "=" in part:
            k, v = part.replace("==", "=").split("=", 1)
            terms.append((k.strip(), "=", v.strip()))
        elif part.startswith("!"):
            terms.append((part[1:], "!", ""))
        else:
            terms.append((part, "exists", ""))
    if not terms:
        raise UsageError(f"-l {text!r} is not a label selector")
    return terms


def _selector_term(pod_labels: dict[str, str], term: tuple[str, str, str]) -> bool:
    key, op, value = term
    if op == "=":
        return pod_labels.get(key) == value
    if op == "!=":
        return pod_labels.get(key) != value
    if op == "!":
        return key not in pod_labels
    return key in pod_labels
