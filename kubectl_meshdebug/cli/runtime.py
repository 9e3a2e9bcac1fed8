"""Turn Settings into what commands use: namespace, ClusterState, proxies, printer.

Nothing here is built until a command asks, so `--admin-url` and `--dump` runs never
import the kubernetes client and `-f` runs never touch the API server. The layers do
the work: kube reads objects and resolves targets, transport chooses the way to a
proxy, the pool runs sweeps; this module only wires them for one invocation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kubectl_meshdebug.cli.options import Settings
from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.errors import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_UNREACHABLE,
    MeshdebugError,
    UnreachableError,
    UsageError,
)
from kubectl_meshdebug.kube.client import Connection, KubeConfig, current_namespace
from kubectl_meshdebug.kube.state import ClusterState, ManifestSource, labels, meta
from kubectl_meshdebug.kube.targets import (
    TargetRef,
    check_name,
    close_names,
    dotted_pod,
    parse_target,
    pick_pod,
    pods_of_workload,
    proxy_container,
)
from kubectl_meshdebug.mesh.commands import kubectl_hint, pod_hint
from kubectl_meshdebug.pool import Progress, run_all
from kubectl_meshdebug.render.output import Printer
from kubectl_meshdebug.transport.choose import AdminUrls, direct_transport, pod_transport

T = TypeVar("T")
R = TypeVar("R")
# Mesh-wide config lives in the root namespace: read it there too when RBAC confines us.
ROOT_KINDS = {"ConfigMap", "DestinationRule", "PeerAuthentication", "Sidecar", "VirtualService",
              "ServiceEntry", "Gateway"}
# What a kind kept from us means for a verdict, in the words of the note.
LIMITS = {
    "ConfigMap": "the mesh config (auto mTLS, root namespace): Istio's defaults assumed",
    "PeerAuthentication": "PeerAuthentications: servers' mTLS mode taken from their proxies' "
                          "listeners, else PERMISSIVE",
    "DestinationRule": "DestinationRules: their TLS and subsets unknown there",
    "Pod": "pods of other namespaces: Services and subsets there are matched against none",
    "Service": "Services of other namespaces: a port 443 named http elsewhere or a protocol "
               "conflict goes unseen",
    "Node": "nodes: subsets that select topology labels may be judged empty",
    "Namespace": "namespaces: injection labels unknown",
    "Sidecar": "Sidecar resources: egress limits unknown",
    "VirtualService": "VirtualServices: routes defined there unknown",
    "MutatingWebhookConfiguration": "webhooks: Istio's default injector assumed",
    "ServiceAccount": "service accounts: AuthorizationPolicy principals and WorkloadGroup "
                      "accounts not checked",
    "Secret": "Secret names: Gateway credentialName not checked",
}


def rbac_rule(kind: str, namespace: str | None) -> str:
    """The RBAC rule that would let the tool read what it could not, as words to paste
    into a Role or ClusterRole (docs/rbac.md has the whole role)."""
    from kubectl_meshdebug.kube.kinds import KINDS

    known = KINDS.get(kind)
    if known is None:
        return ""
    group = known.group or '""'
    where = f"a Role in {namespace}" if namespace and known.namespaced else "a ClusterRole"
    return (f"allowed by {where}: apiGroups [{group}], resources [{known.plural}], "
            "verbs [get, list]")


def _allowed_by(kind: str, namespace: str | None) -> str:
    rule = rbac_rule(kind, namespace)
    return f" ({rule})" if rule else ""


class Proxy:
    """One sidecar: which pod it is, the pod object when known, and its admin client
    (None when the pod has no proxy to reach, e.g. a client outside the mesh)."""

    def __init__(self, namespace: str, name: str, pod: dict[str, Any] | None,
                 admin: AdminClient | None) -> None:
        self.namespace = namespace
        self.name = name
        self.pod = pod
        self.admin = admin

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"


def _trace_round_trips() -> None:
    """-vv: one stderr line per exec into a proxy, as kubectl -v=6 shows its requests."""
    import logging

    trace = logging.getLogger("kubectl_meshdebug.exec")
    if not trace.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("I %(message)s"))
        trace.addHandler(handler)
    trace.setLevel(logging.DEBUG)
    trace.propagate = False


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kube = KubeConfig(settings.kubeconfig, settings.context, settings.request_timeout)
        self.connection = Connection(self.kube)
        self.admin_urls = AdminUrls(settings.admin_urls)
        self._namespace: str | None = None
        self._state: ClusterState | None = None
        # audit reports wrongly typed objects as findings; every other command stops
        self.tolerate_malformed = False
        self.malformed: list[Any] = []
        self.printer = Printer(settings.output, color=False if settings.no_color else None)
        if settings.verbose >= 2:
            _trace_round_trips()

    def require_output(self, allowed: tuple[str, ...] = ("table", "wide", "json", "yaml")) -> str:
        if self.settings.output not in allowed:
            raise UsageError(f"-o {self.settings.output} is not available here",
                             hint=f"use one of {', '.join(allowed)}")
        return self.settings.output

    # scope -------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        if self._namespace is None:
            self._namespace = check_name(
                self.settings.namespace or current_namespace(self.kube), "namespace")
        return self._namespace

    @property
    def istio_namespace(self) -> str:
        """The control plane's namespace: istiod, the `istio` ConfigMap (--istio-namespace)."""
        return check_name(self.settings.istio_namespace, "--istio-namespace")

    @property
    def offline(self) -> bool:
        return bool(self.settings.manifests)

    def state(self) -> ClusterState:
        if self._state is None:
            if self.offline:
                from kubectl_meshdebug.kube.manifests import load_checked

                objects, self.malformed = load_checked(self.settings.manifests,
                                                       max_bytes=self.settings.max_input_bytes)
                if self.malformed and not self.tolerate_malformed:
                    raise UsageError(self.malformed[0].one_line())
                self._state = ClusterState(ManifestSource(objects, self.namespace),
                                           root=self.istio_namespace)
            else:
                from kubectl_meshdebug.kube.live import LiveSource

                scope = [] if self.settings.all_namespaces else [self.namespace]
                self._state = ClusterState(LiveSource(self.connection), scope,
                                           root=self.istio_namespace, root_kinds=ROOT_KINDS)
        return self._state

    def has_cluster_view(self) -> bool:
        """True when objects can be read: -f given, or no --admin-url shortcut in use."""
        return self.offline or not self.admin_urls

    def limits(self) -> list[str]:
        """What RBAC kept from us, and what that means for the verdict, a line each."""
        if self._state is None:
            return []
        out = []
        for (kind, ns), _why in sorted(self._state.unreadable.items(),
                                       key=lambda kv: (kv[0][0], kv[0][1] or "")):
            where = f"in {ns}" if ns else "cluster-wide"
            out.append(f"{kind} {where}: " + LIMITS.get(kind, "unknown") + _allowed_by(kind, ns))
        for kind in self._state.narrowed():
            if kind in ("Service", "Pod") and self._state.scope and not any(
                    k == kind for k, _ in self._state.unreadable):
                out.append(f"{kind} cluster-wide: read in {', '.join(self._state.scope)} only; "
                           + LIMITS.get(kind, "") + _allowed_by(kind, None))
        return out

    def note_limits(self) -> None:
        """Say what RBAC kept from us, and what that means for the verdict."""
        for line in self.limits():
            self.printer.note(f"note: not allowed to read {line}")

    # proxies -----------------------------------------------------------------------
    def admin_client(self, transport: Any) -> AdminClient:
        return AdminClient(transport, timeout=self.settings.request_timeout)

    def pod_target(self, target: str) -> tuple[TargetRef, str]:
        """What a command's POD argument names, and in which namespace. istioctl's
        POD.NAMESPACE form (`reviews-v1-7d9.foo`) is read as such unless a pod of that
        literal name exists in the namespace (pod names may contain dots)."""
        ref = parse_target(target)
        namespace = ref.namespace or self.namespace
        split = dotted_pod(ref.name) if ref.kind == "Pod" else None
        if split is None:
            return ref, namespace
        name, split_ns = split
        if self.admin_urls:
            literal = self.admin_urls.lookup(namespace, ref.name, bool(self.settings.namespace))
            if literal is None and self.admin_urls.lookup(split_ns, name, True) is not None:
                return TargetRef("Pod", name, split_ns), split_ns
        if not self.has_cluster_view() or self.find_pod(ref, namespace) is not None:
            return ref, namespace
        return TargetRef("Pod", name, split_ns), split_ns

    def proxy(self, target: str) -> Proxy:
        ref, namespace = self.pod_target(target)
        if ref.kind == "Pod":
            given = bool(self.settings.namespace) or ref.namespace is not None
            direct = self.admin_urls.lookup(namespace, ref.name, given)
            if direct is not None:
                return self._direct_proxy(direct[0], ref.name, direct[1])
        pod = self._resolve_pod(ref, namespace)
        return self.proxy_for_pod(pod)

    def _direct_proxy(self, namespace: str, name: str, url: str) -> Proxy:
        pod = self.state().get("Pod", namespace, name) if self.offline else None
        transport = direct_transport(url, self.settings.max_answer_bytes)
        return Proxy(namespace, name, pod, self.admin_client(transport))

    def find_pod(self, ref: TargetRef, namespace: str) -> dict[str, Any] | None:
        if self.offline:
            return self.state().get("Pod", namespace, ref.name)
        return self.state().source.read_pod(namespace, ref.name)  # type: ignore[attr-defined]

    def _resolve_pod(self, ref: TargetRef, namespace: str) -> dict[str, Any]:
        if ref.kind == "Pod":
            pod = self.find_pod(ref, namespace)
            if pod is None:
                hint = close_names(ref.name, self.state().names("Pod", namespace))
                raise UsageError(
                    f"pod {namespace}/{ref.name} not found",
                    hint=hint or "list them with: " + kubectl_hint("get", "pods", "-n", namespace,
                                                                   names=[namespace]),
                )
            return pod
        pods = pods_of_workload(self.state(), ref.kind, ref.name, namespace)
        return pick_pod(pods, f"{ref.kind.lower()} {namespace}/{ref.name}")

    def proxy_for_pod(self, pod: dict[str, Any]) -> Proxy:
        m = meta(pod)
        namespace, name = str(m.get("namespace", self.namespace)), str(m.get("name", ""))
        direct = self.admin_urls.lookup(namespace, name, bool(self.settings.namespace))
        if direct is not None:
            return self._direct_proxy(namespace, name, direct[1])
        self.require_proxy_container(pod)
        if self.offline:
            raise UsageError(
                f"offline (-f) there is no way to reach the proxy of {namespace}/{name}",
                hint=f"add --admin-url {namespace}/{name}=http://HOST:PORT, or use --dump FILE",
            )
        status = pod.get("status") if isinstance(pod.get("status"), dict) else {}
        phase = status.get("phase")
        if phase != "Running":
            raise UnreachableError(
                f"pod {namespace}/{name} is {phase or 'not running'}",
                hint="see: " + kubectl_hint("describe", "pod", name, "-n", namespace,
                                            names=[name, namespace]),
            )
        transport = pod_transport(
            self.connection, namespace, name, kind=self.settings.transport,
            container=self.settings.container, port=self.settings.admin_port,
            max_bytes=self.settings.max_answer_bytes)
        return Proxy(namespace, name, pod, self.admin_client(transport))

    def proxy_key(self, proxy: Proxy) -> str:
        """Which proxy this is across runs: its admin URL, or the API server and the pod
        (two contexts may both have a default/sleep), whichever way it is reached (a
        capture through port-forward and a reset through exec are about one proxy)."""
        describe = proxy.admin.describe if proxy.admin is not None else proxy.label
        if describe.startswith("http"):
            return describe
        try:
            server = str(self.connection.configuration().host)
        except MeshdebugError:
            server = str(self.settings.context or "")
        return f"{server}|{proxy.label}|{self.settings.container}|{self.settings.admin_port}"

    def require_proxy_container(self, pod: dict[str, Any]) -> dict[str, Any]:
        container = proxy_container(pod, self.settings.container)
        if container is not None:
            return container
        from kubectl_meshdebug.mesh.injection import missing_sidecar_reason

        m = meta(pod)
        namespace = str(m.get("namespace", ""))
        ns_obj = self.state().get("Namespace", None, namespace)
        why = missing_sidecar_reason(namespace, labels(ns_obj) if ns_obj else None)
        raise UsageError(
            f"pod {namespace}/{m.get('name')} has no {self.settings.container} container ({why})",
            hint="run: " + pod_hint("check-inject", str(m.get("name")), namespace),
        )

    def sidecar_pods(self, selector: str, hint: str | None = None) -> list[dict[str, Any]]:
        """Every pod matching -l in the namespace (or all with -A) that has a proxy, sorted
        by namespace and name; none is a usage error (with `hint` when namespaced)."""
        from kubectl_meshdebug.kube.selectors import parse_selector, selector_matches

        terms = parse_selector(selector) if selector else []  # "" with -A: every proxy
        ns = None if self.settings.all_namespaces else self.namespace
        pods = [p for p in self.state().list("Pod", ns) if selector_matches(terms, labels(p))]
        pods = [p for p in pods if proxy_container(p, self.settings.container) is not None]
        if not pods and ns is None and "Pod" in self.state().narrowed():
            raise UnreachableError(
                "not allowed to list pods in all namespaces (-A), so no proxy was found",
                hint="name a namespace you may read with -n NS; listing cluster-wide is "
                     + rbac_rule("Pod", None))
        if not pods:
            where = "any namespace" if ns is None else f"namespace {ns}"
            what = f"match -l {selector} " if selector else ""
            raise UsageError(f"no pods with an {self.settings.container} container {what}"
                             f"in {where}", hint=hint if ns is not None else None)
        pods.sort(key=lambda p: (str(meta(p).get("namespace", "")), str(meta(p).get("name", ""))))
        return pods

    def proxies_by_selector(self, selector: str) -> list[Proxy]:
        """Every pod matching -l in the namespace (or all with -A) that has a proxy."""
        return [self.proxy_for_pod(p) for p in self.sidecar_pods(selector)]

    def proxies(self, targets: list[str], selector: str | None) -> list[Proxy]:
        if selector and targets:
            raise UsageError("give pod names or -l/--selector, not both")
        if selector is not None and (selector or self.settings.all_namespaces):
            return self.proxies_by_selector(selector)
        if self.settings.all_namespaces and not targets:
            return self.proxies_by_selector("")
        if not targets:
            raise UsageError("no target pod given", hint="name a pod, or use -l/--selector or -A")
        return [self.proxy(t) for t in targets]

    @staticmethod
    def sweep_exit(results: list[Any], problems: bool) -> int:
        """One exit code for every command that reads many proxies: 1 when a proxy that
        answered shows a problem (the diagnosis decides), else 3 when any could not be
        read, else 0."""
        if problems:
            return EXIT_FINDINGS
        return EXIT_UNREACHABLE if any(isinstance(r, MeshdebugError) for r in results) \
            else EXIT_OK

    # concurrency -------------------------------------------------------------------
    def fan_out(self, items: list[T], work: Callable[[T], R],
                progress: str | None = None) -> list[R | MeshdebugError]:
        """`work` on every item, at most --concurrency at once; results keep input order
        and each failure stays with its item."""
        bar = Progress(progress, len(items), self.printer.err) if progress else None
        return run_all(items, work, concurrency=self.settings.concurrency, progress=bar)
