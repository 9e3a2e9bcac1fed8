"""`why-503 POD SVC`: why calls from a pod to a Service fail, proved from the proxies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import concurrency_option, global_options
from kubectl_meshdebug.errors import EXIT_FINDINGS, EXIT_OK, MeshdebugError, UnreachableError

if TYPE_CHECKING:
    from kubectl_meshdebug.cli.runtime import Proxy, Runtime


@click.command("why-503", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug why-503 sleep-5b59 httpbin -n foo
  kubectl meshdebug why-503 deploy/sleep httpbin.foo:8000 --logs
  kubectl meshdebug why-503 sleep-5b59 svc/reviews --server reviews-v2-7d9
  kubectl meshdebug why-503 sleep-5b59 httpbin.org:443          # a host outside the mesh
  kubectl meshdebug why-503 sleep httpbin -n foo -f objects.yaml \\
      --admin-url foo/sleep=http://127.0.0.1:15000 --log-file sleep.log   # offline
""")
@click.argument("pod")
@click.argument("service")
@click.option("--server", "servers", multiple=True, metavar="POD",
              help="Read this server pod's sidecar (default: every pod behind the Service).")
@click.option("--logs", is_flag=True,
              help="Read the last lines of the istio-proxy logs through the API server.")
@click.option("--log-file", "log_files", multiple=True, metavar="[POD=]FILE",
              help="A saved istio-proxy log (- for stdin); POD= assigns it to a server pod.")
@click.option("--tail", default=500, show_default=True, help="Log lines to read with --logs.")
@concurrency_option
@global_options
@click.pass_context
def why_503(ctx: click.Context, pod: str, service: str, servers: tuple[str, ...], logs: bool,
            log_files: tuple[str, ...], tail: int) -> int:
    """Find why calls from POD to SERVICE fail (503, 502, 404, resets), with the evidence and
    the fix.

    Reads the client's sidecar (the route and cluster the call takes, TLS, circuit breakers,
    endpoints and their health, config updates), the server pods' sidecars (the inbound
    listener and whether it requires mTLS, the inbound cluster), the access logs when
    available, and the Services, DestinationRules, VirtualServices, PeerAuthentications and
    Sidecars around them. Exit code 1 when it finds errors.
    """
    from kubectl_meshdebug.checks.proxyview import fetch_views
    from kubectl_meshdebug.checks.target import resolve_target
    from kubectl_meshdebug.checks.why503 import WHY503_KINDS, run_why503
    from kubectl_meshdebug.checks.why503_context import Why503Context
    from kubectl_meshdebug.mesh.correlate import MeshContext
    from kubectl_meshdebug.render.findings import findings_document, print_findings

    rt = runtime(ctx)
    state = rt.state() if rt.has_cluster_view() else None
    if state is not None:
        state.prefetch(WHY503_KINDS)
    client = _client(rt, pod)
    client_ns = client.namespace
    target = resolve_target(service, client_ns, state)
    server_proxies = _servers(rt, servers, target, state)
    texts = _logs(rt, logs, log_files, tail, [client] + server_proxies)
    entries = [(p.label, p.pod, p.admin) for p in [client] + server_proxies]
    if rt.printer.err.isatty():
        rt.printer.note(f"reading {len(entries)} prox{'y' if len(entries) == 1 else 'ies'}...")
    fetched = fetch_views(entries, texts, rt.settings.concurrency,
                          _focus(client, server_proxies, target))
    client_view, server_views = fetched[0], fetched[1:]
    if client.admin is not None and client_view.dump is None:
        raise UnreachableError(f"could not read the proxy of {client.label}: "
                               + "; ".join(client_view.errors[:2]))
    mesh = MeshContext.build(state, client.pod, client_ns) if state is not None else None
    why = Why503Context(target, client_view, server_views, state, mesh)
    findings = run_why503(why)
    read = {"client": client.label, "servers": [s.label for s in server_proxies],
            "logs": sorted(texts), "objects": "manifests" if rt.offline else
            ("api-server" if state is not None else "none")}
    if rt.settings.output in ("json", "yaml"):
        doc = findings_document({"client": client.label, "host": target.host,
                                 "port": target.port}, why.checked, findings)
        doc["read"] = read
        doc["errors"] = [f"{v.label}: {e}" for v in fetched for e in v.errors]
        rt.printer.document(doc)
    else:
        title = f"why-503: {client.label} -> {target.label}"
        print_findings(rt.printer, findings, title=title, checked=why.checked,
                       wide=rt.settings.output == "wide")
        unread = [f"{v.label}: {e}" for v in fetched for e in v.errors]
        for line in unread[:5]:
            rt.printer.note(f"note: could not read {line}")
        if not texts:
            rt.printer.note("note: no access logs read; add --logs (or --log-file) to see "
                            "response flags")
    return EXIT_FINDINGS if any(f.severity == "error" for f in findings) else EXIT_OK


def _focus(client: _Peer, servers: list[_Peer], target: Any) -> dict[str, Any]:
    """Ask each proxy only for what this call can involve (see ViewFocus)."""
    import re

    from kubectl_meshdebug.checks.proxyview import ViewFocus

    port, host = target.port, target.host
    # Envoy caps these RE2 patterns at a program size of 100, so they stay short and
    # over-inclusive (`httpbin.foo.*`); the checks match exact names themselves.
    labels = host.split(".")
    short = re.escape(".".join(labels[:2])) + (r"\..*" if len(labels) > 2 else "")
    out = {client.label: ViewFocus(
        clusters=rf"outbound\|{port}\|[^|]*\|{short}", routes=rf"{port}|.*:{port}",
        listeners=rf".*_{port}|virtualOutbound", host=host, port=port)}
    target_port = (target.service_port or {}).get("targetPort", port)
    for server in servers:
        out[server.label] = ViewFocus(clusters=r"inbound\|.*", routes="",
                                      listeners=rf"virtualInbound|inbound.*|.*_{target_port}")
    return out


class _Peer:
    """A pod on the call's path; `admin` is None when its proxy cannot be reached."""

    def __init__(self, label: str, namespace: str, pod: dict | None, admin: Any) -> None:
        self.label = label
        self.namespace = namespace
        self.pod = pod
        self.admin = admin


def _client(rt: Runtime, target: str) -> _Peer:
    from kubectl_meshdebug.kube.state import meta

    try:
        proxy: Proxy = rt.proxy(target)
        return _Peer(proxy.label, proxy.namespace, proxy.pod, proxy.admin)
    except MeshdebugError as exc:
        pod = _pod_without_sidecar(rt, target)
        if pod is None:
            raise exc from None
        m = meta(pod)
        return _Peer(f"{m.get('namespace')}/{m.get('name')}", m.get("namespace", ""), pod, None)


def _pod_without_sidecar(rt: Runtime, target: str) -> dict | None:
    from kubectl_meshdebug.kube.targets import proxy_container

    if not rt.has_cluster_view():
        return None
    from kubectl_meshdebug.kube.targets import parse_target

    ref = parse_target(target)
    if ref.kind != "Pod":
        return None
    pod = rt.state().get("Pod", rt.namespace, ref.name)
    if pod is not None and proxy_container(pod, rt.settings.container) is None:
        return pod
    return None


def _servers(rt: Runtime, names: tuple[str, ...], target: Any, state: Any) -> list[_Peer]:
    from kubectl_meshdebug.kube.state import meta
    from kubectl_meshdebug.kube.targets import proxy_container, service_pods

    peers: list[_Peer] = []
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
            peers.append(_Peer(proxy.label, proxy.namespace, proxy.pod or pod, proxy.admin))
        except MeshdebugError:
            if pod is not None:
                peers.append(_Peer(f"{meta(pod).get('namespace')}/{meta(pod).get('name')}",
                                   meta(pod).get("namespace", ""), pod, None))
    return peers


def _logs(rt: Runtime, live: bool, files: tuple[str, ...], tail: int,
          peers: list[_Peer]) -> dict[str, str]:
    from kubectl_meshdebug.cli.common import read_text_file

    texts: dict[str, str] = {}
    for spec in files:
        name, sep, path = spec.partition("=")
        if not sep:
            texts[peers[0].label] = read_text_file(spec, "--log-file")
            continue
        peer = next((p for p in peers if p.label == name or p.label.endswith("/" + name)), None)
        if peer is None:
            from kubectl_meshdebug.errors import UsageError

            raise UsageError(f"--log-file {spec}: {name} is not a pod on this call's path",
                             hint="pods: " + ", ".join(p.label for p in peers))
        texts[peer.label] = read_text_file(path, "--log-file")
    if live and not rt.offline:
        source = rt.state().source
        for peer in peers:
            if peer.label in texts or not hasattr(source, "pod_log"):
                continue
            ns, name = peer.label.split("/", 1)
            try:
                texts[peer.label] = source.pod_log(ns, name, rt.settings.container, tail)
            except MeshdebugError as exc:
                rt.printer.note(f"note: no log for {peer.label}: {exc.one_line()}")
    return texts
