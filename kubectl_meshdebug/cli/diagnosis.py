"""One call diagnosed: the proxies, objects and logs why-503 and path read, and the
findings of the why-503 checks on them. Imported when one of those commands runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubectl_meshdebug.errors import MeshdebugError, UnreachableError

if TYPE_CHECKING:
    from kubectl_meshdebug.cli.runtime import Proxy, Runtime


class Diagnosis:
    """One call diagnosed: what was read, the context the checks saw, their findings."""

    def __init__(self, client: Proxy, servers: list[Proxy], why: Any, findings: list[Any],
                 texts: dict[str, str], unread: list[str], read: dict[str, Any]) -> None:
        self.client, self.servers, self.why, self.findings = client, servers, why, findings
        self.texts, self.unread, self.read = texts, unread, read


def diagnose(rt: Runtime, pod: str, service: str, servers: tuple[str, ...], logs: bool,
             log_files: tuple[str, ...], tail: int) -> Diagnosis:
    """Read the client's and the servers' proxies, the objects and the logs, and run the
    why-503 checks on that one call (shared by why-503 and path)."""
    from kubectl_meshdebug.checks.registry import WHY503_CHECKS
    from kubectl_meshdebug.checks.runner import kinds_of, proxy_data_of, run_why503
    from kubectl_meshdebug.checks.why503_context import Why503Context
    from kubectl_meshdebug.envoy.proxyview import collect_views
    from kubectl_meshdebug.kube.targets import is_gateway_pod
    from kubectl_meshdebug.mesh.correlate import MeshContext
    from kubectl_meshdebug.mesh.focus import client_focus, server_focus
    from kubectl_meshdebug.mesh.target import resolve_target, target_port_number

    checks = WHY503_CHECKS
    state = rt.state() if rt.has_cluster_view() else None
    client = _client(rt, pod)
    client_ns = client.namespace
    if state is not None:
        state.widen(client_ns)
    target = resolve_target(service, client_ns, state)
    if state is not None:
        state.widen(target.namespace)
        state.prefetch(kinds_of(checks))
    server_proxies = _servers(rt, servers, target, state)
    peers = [client] + server_proxies
    texts = _logs(rt, logs, log_files, tail, peers)
    if rt.printer.err.isatty():
        rt.printer.note(f"reading {len(peers)} prox{'y' if len(peers) == 1 else 'ies'}...")
    focus = {client.label: client_focus(target.host, target.port,
                                        gateway=is_gateway_pod(client.pod,
                                                               rt.settings.container))}
    for server in server_proxies:
        focus[server.label] = server_focus(target_port_number(target.service_port, server.pod))
    fetched = collect_views([(p.label, p.pod, p.admin) for p in peers], texts,
                            proxy_data_of(checks), focus, rt.settings.concurrency)
    client_view, server_views = fetched[0], fetched[1:]
    if client.admin is not None and client_view.dump is None:
        raise UnreachableError(f"could not read the proxy of {client.label}: "
                               + "; ".join(client_view.errors[:2]))
    mesh = MeshContext.build(state, client.pod, client_ns) if state is not None else None
    why = Why503Context(target, client_view, server_views, state, mesh)
    findings = run_why503(why, checks)
    read = {"client": client.label, "servers": [s.label for s in server_proxies],
            "logs": sorted(texts), "objects": "manifests" if rt.offline else
            ("api-server" if state is not None else "none")}
    unread = [f"{v.label}: {e}" for v in fetched for e in v.errors]
    unread += [f"{p.label}: its proxy could not be reached" for p in server_proxies
               if p.admin is None and p.pod is not None and _has_proxy(rt, p.pod)]
    return Diagnosis(client, server_proxies, why, findings, texts, unread, read)


def _has_proxy(rt: Runtime, pod: dict) -> bool:
    from kubectl_meshdebug.kube.targets import proxy_container

    return proxy_container(pod, rt.settings.container) is not None


def _client(rt: Runtime, target: str) -> Proxy:
    from kubectl_meshdebug.cli.runtime import Proxy
    from kubectl_meshdebug.kube.state import meta

    try:
        return rt.proxy(target)
    except MeshdebugError as exc:
        pod = _pod_without_sidecar(rt, target)
        if pod is None:
            raise exc from None
        m = meta(pod)
        return Proxy(str(m.get("namespace", "")), str(m.get("name", "")), pod, None)


def _pod_without_sidecar(rt: Runtime, target: str) -> dict | None:
    from kubectl_meshdebug.kube.targets import proxy_container

    if not rt.has_cluster_view():
        return None
    ref, namespace = rt.pod_target(target)
    if ref.kind != "Pod":
        return None
    pod = rt.find_pod(ref, namespace)
    if pod is not None and proxy_container(pod, rt.settings.container) is None:
        return pod
    return None


def _servers(rt: Runtime, names: tuple[str, ...], target: Any, state: Any) -> list[Proxy]:
    from kubectl_meshdebug.cli.runtime import Proxy
    from kubectl_meshdebug.kube.state import meta
    from kubectl_meshdebug.kube.targets import proxy_container, service_pods

    peers: list[Proxy] = []
    candidates: list[tuple[str, dict | None]] = []
    if names:
        candidates = [(n, None) for n in names]
    elif state is not None and target.service is not None:
        candidates = [(f"pod/{meta(pod).get('name')}", pod)
                      for pod in service_pods(state, target.service)]
    for name, pod in candidates[: max(1, rt.settings.concurrency * 2)]:
        if pod is not None and proxy_container(pod, rt.settings.container) is None:
            continue
        try:
            proxy = rt.proxy_for_pod(pod) if pod is not None else rt.proxy(name)
            if proxy.pod is None:
                proxy.pod = pod
            peers.append(proxy)
        except MeshdebugError as exc:
            if pod is None:
                raise
            m = meta(pod)
            peers.append(Proxy(str(m.get("namespace", "")), str(m.get("name", "")), pod, None))
            rt.printer.note(f"note: {exc.one_line()}")
    return peers


def _logs(rt: Runtime, live: bool, files: tuple[str, ...], tail: int,
          peers: list[Proxy]) -> dict[str, str]:
    from kubectl_meshdebug.cli.common import read_text_file
    from kubectl_meshdebug.cli.logfiles import LogFiles

    texts: dict[str, str] = {}
    given = LogFiles(files)
    for index, peer in enumerate(peers):
        path = given.path_for(peer.label) or (given.bare if index == 0 else None)
        if path is not None:
            texts[peer.label] = read_text_file(path, "--log-file")
    for name in given.unmatched([p.label for p in peers]):
        rt.printer.note(f"note: --log-file {name}=...: not a pod on this call's path "
                        f"({', '.join(p.label for p in peers)}); not read")
    if live and not rt.offline and rt.has_cluster_view():
        source = rt.state().source
        for peer in peers:
            if peer.label in texts or not hasattr(source, "pod_log") or peer.pod is None:
                continue
            if not _has_proxy(rt, peer.pod):
                continue
            try:
                texts[peer.label] = source.pod_log(peer.namespace, peer.name,
                                                   rt.settings.container, tail)
            except MeshdebugError as exc:
                rt.printer.note(f"note: no log for {peer.label}: {exc.one_line()}")
    return texts
