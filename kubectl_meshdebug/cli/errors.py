"""`errors`: where does the mesh fail? Every selected sidecar's own counters, as edges."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, read_text_file, runtime
from kubectl_meshdebug.cli.options import (
    TAIL,
    all_namespaces_option,
    concurrency_option,
    duration_option,
    global_options,
)
from kubectl_meshdebug.errors import MeshdebugError, UnreachableError, UsageError

if TYPE_CHECKING:
    from kubectl_meshdebug.cli.logfiles import LogFiles
    from kubectl_meshdebug.cli.runtime import Proxy, Runtime
    from kubectl_meshdebug.mesh.edges import Edge

OUTPUTS = ("table", "wide", "json", "yaml", "dot", "mermaid")
LOG_EDGES = 5  # --logs reads the source pods of this many of the worst edges


@click.command("errors", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug errors -A                        # every sidecar, totals since start
  kubectl meshdebug errors -n bookinfo --window 30s  # what failed in the next 30 seconds
  kubectl meshdebug errors -l app=productpage -n bookinfo --logs
  kubectl meshdebug errors -A -o dot | dot -Tsvg > failing.svg
  kubectl meshdebug errors -A -o json | jq -r '.items[0].next | @sh'
""")
@click.argument("pods", nargs=-1)
@click.option("-l", "--selector", metavar="SELECTOR", help="Only sidecars of pods matching labels.")
@click.option("--window", callback=duration_option, metavar="DURATION",
              help="Sample twice, DURATION apart, and report what failed in between "
              "(default: totals since each proxy started).")
@click.option("--all", "show_all", is_flag=True, help="Show edges without failures too.")
@click.option("--logs", is_flag=True,
              help="Read the access logs of the worst edges' source pods for flags and details.")
@click.option("--log-file", "log_files", multiple=True, metavar="[NS/]POD=FILE",
              help="A saved istio-proxy log of a source pod (offline --logs).")
@click.option("--tail", default=500, show_default=True, type=TAIL,
              help="Log lines to read with --logs.")
@all_namespaces_option
@concurrency_option
@global_options(outputs=OUTPUTS)
@click.pass_context
def errors(ctx: click.Context, pods: tuple[str, ...], selector: str | None,
           window: float | None, show_all: bool, logs: bool, log_files: tuple[str, ...],
           tail: int) -> int:
    """Map the failing calls of the mesh from every sidecar's own counters: source
    workload -> destination service, ranked by failures, each with the why-503 command that
    explains it.

    Reads, per sidecar: /clusters per-host counters (every sidecar has them), per-cluster
    upstream_rq_* stats where the stats inclusion list keeps them, and istio_requests_total
    when Istio's stats filter is on; the COUNTED BY column (-o wide) says which one an
    edge's numbers come from. Without --window the numbers are totals since each proxy
    started. Exit code 1 when an edge has failures.
    """
    from kubectl_meshdebug.envoy.upstream_counters import read_counters
    from kubectl_meshdebug.mesh.edges import EdgeMap, ProxyReading

    rt = runtime(ctx, outputs=OUTPUTS)
    if window is not None and window <= 0:
        raise UsageError("--window must be longer than 0s")
    from kubectl_meshdebug.cli.logfiles import LogFiles

    given = LogFiles(log_files)
    given.require_one_pod(True)  # a usage error before any slow read
    proxies, failed = _select(rt, pods, selector)

    def sample(proxy: Proxy) -> Any:
        if proxy.admin is None:
            raise UnreachableError(f"no way to reach the proxy of {proxy.label}")
        return read_counters(proxy.admin)

    first = rt.fan_out(proxies, sample, progress="errors: reading")
    if window:
        rt.printer.note(f"errors: sampling again in {window:g}s (counts in between are "
                        "reported)")
        time.sleep(window)
        second = rt.fan_out(proxies, sample, progress="errors: reading again")
        results: list[Any] = [
            b if isinstance(b, MeshdebugError) else a if isinstance(a, MeshdebugError)
            else b.minus(a) for a, b in zip(first, second, strict=True)]
    else:
        results = list(first)
    edges = EdgeMap(_pod_of_ip(rt))
    for proxy, result in zip(proxies, results, strict=True):
        if isinstance(result, MeshdebugError):
            failed.append((proxy.label, result))
        else:
            edges.add(ProxyReading(proxy.label, proxy.pod, result))
    if failed and all(isinstance(r, MeshdebugError) for r in results):
        if len(failed) == 1:
            raise failed[0][1]
        raise UnreachableError(f"none of the {len(failed)} sidecars could be read; the first, "
                               f"{failed[0][0]}: {failed[0][1].one_line()}")
    ranked = edges.ranked(failing_only=not show_all)
    _read_logs(rt, [e for e in ranked if e.failures][:LOG_EDGES], logs, given, tail)
    doc = _document(ranked, results, failed, window)
    _print(rt, doc, window)
    failing = any(e.failures for e in ranked)
    return rt.sweep_exit(list(results) + [e for _, e in failed], failing)


def _select(rt: Runtime, pods: tuple[str, ...], selector: str | None
            ) -> tuple[list[Proxy], list[tuple[str, MeshdebugError]]]:
    """The sidecars to read; a pod that cannot be reached is a failed row, not the end."""
    from kubectl_meshdebug.kube.state import meta

    if pods:
        if selector:
            raise UsageError("give pod names or -l/--selector, not both")
        return [rt.proxy(p) for p in pods], []
    proxies: list[Proxy] = []
    failed: list[tuple[str, MeshdebugError]] = []
    for pod in rt.sidecar_pods(selector or "", hint="use -A for every namespace"):
        try:
            proxies.append(rt.proxy_for_pod(pod))
        except MeshdebugError as exc:
            failed.append((f"{meta(pod).get('namespace')}/{meta(pod).get('name')}", exc))
    return proxies, failed


def _pod_of_ip(rt: Runtime) -> Any:
    from kubectl_meshdebug.kube.state import meta
    from kubectl_meshdebug.mesh.correlate import pods_by_ip

    if not rt.has_cluster_view():
        return lambda ip: None
    by_ip = {ip: f"{meta(pod).get('namespace')}/{meta(pod).get('name')}"
             for ip, pod in pods_by_ip(rt.state()).items()}
    return by_ip.get


def _read_logs(rt: Runtime, worst: list[Edge], live: bool, given: LogFiles,
               tail: int) -> None:
    """Flags and details of the worst edges, from their source pods' access logs."""
    from kubectl_meshdebug.cli.logfiles import names_pod
    from kubectl_meshdebug.envoy.accesslog import parse_log

    texts = {pod: read_text_file(path, "--log-file") for pod, path in given.named}
    wanted = {e.worst_pod for e in worst if e.worst_pod}
    if live and not rt.offline and rt.has_cluster_view():
        source = rt.state().source
        for label in sorted(wanted):
            namespace, _, name = label.partition("/")
            try:
                texts[label] = source.pod_log(namespace, name, rt.settings.container, tail)
            except MeshdebugError as exc:
                rt.printer.note(f"note: no log for {label}: {exc.one_line()}")
    if not texts:
        return
    parsed = {label: parse_log(text)[0] for label, text in texts.items()}
    for edge in worst:
        entries = next((v for k, v in parsed.items() if names_pod(k, edge.worst_pod)), None)
        if entries is not None:
            mine = [e for e in entries if e.upstream_cluster == edge.cluster]
            edge.log_calls = len(mine)
            edge.log_failures = sum(1 for e in mine if e.status >= 500)
        for entry in entries or []:
            if entry.upstream_cluster != edge.cluster or entry.status < 500:
                continue
            if edge.istio_requests is None:  # Istio's own metric already has them
                edge.codes[str(entry.status)] += 1
                for flag in entry.flags:
                    edge.flags[flag] += 1
            detail = entry.details or entry.transport_failure
            if detail:
                edge.details[detail] += 1


def _document(ranked: list[Edge], results: list[Any], failed: list[tuple[str, MeshdebugError]],
              window: float | None) -> dict[str, Any]:
    counted = [r for r in results if not isinstance(r, MeshdebugError)]
    return {
        "kind": "ErrorEdgeList",
        "window": None if window is None else f"{window:g}s",
        "counted": "since each proxy started" if window is None else f"in {window:g}s",
        "proxies": {
            "read": len(counted), "failed": [{"pod": label, "error": e.one_line()} for label, e in failed],
            "with_cluster_stats": sum(1 for r in counted if r.clusters is not None),
            "with_istio_requests_total": sum(1 for r in counted if r.istio is not None),
        },
        "items": [e.to_dict() for e in ranked],
    }


def _print(rt: Runtime, doc: dict[str, Any], window: float | None) -> None:
    from kubectl_meshdebug.render.edges import COLUMNS, NEXT_SHOWN, to_dot, to_mermaid
    from kubectl_meshdebug.render.output import Listing

    output = rt.settings.output
    title = f"failing calls, {doc['counted']}"
    if output in ("json", "yaml"):
        rt.printer.document(doc)
        return
    if output == "dot":
        rt.printer.raw(to_dot(doc["items"], title))
        return
    if output == "mermaid":
        rt.printer.raw(to_mermaid(doc["items"]))
        return
    proxies = doc["proxies"]
    if doc["items"]:
        rt.printer.listing(Listing("ErrorEdgeList", doc["items"], COLUMNS))
    else:
        rt.printer.line(f"No failing calls {doc['counted']} in {proxies['read']} "
                        f"sidecar{'s' if proxies['read'] != 1 else ''}.")
    from kubectl_meshdebug.mesh.commands import shell

    shown = [i for i in doc["items"] if i["failures"] and i["next"]][:NEXT_SHOWN]
    if shown and output != "wide":
        rt.printer.line()
        for item in shown:
            rt.printer.line(f"next: {shell(item['next'])}")
    sources = []
    if proxies["with_istio_requests_total"] < proxies["read"]:
        sources.append(f"{proxies['read'] - proxies['with_istio_requests_total']} without "
                       "istio_requests_total")
    if proxies["with_cluster_stats"] < proxies["read"]:
        sources.append(f"{proxies['read'] - proxies['with_cluster_stats']} without "
                       "per-cluster stats (counted by /clusters: attempts that reached a host)")
    rt.printer.note(f"{proxies['read']} sidecars read, counts {doc['counted']}"
                    + (f"; {', '.join(sources)}" if sources else ""))
    for row in proxies["failed"][:5]:
        rt.printer.note(f"note: could not read {row['pod']}: {row['error']}")
    if len(proxies["failed"]) > 5:
        rt.printer.note(f"note: {len(proxies['failed']) - 5} more sidecars could not be read")
