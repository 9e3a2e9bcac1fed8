"""`stats`: Envoy's counters and gauges, filtered by regex or by Service, with deltas."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import (
    FiniteFloatRange,
    all_namespaces_option,
    concurrency_option,
    global_options,
)
from kubectl_meshdebug.errors import MeshdebugError, UsageError
from kubectl_meshdebug.render.output import Column, Listing

if TYPE_CHECKING:
    from kubectl_meshdebug.cli.runtime import Proxy

ABSENT_NOTE = (
    "note: no cluster.{what} stats exist on {pod}: Istio's default stats inclusion list drops "
    "per-cluster stats (absent is not zero); enable them with the pod annotation "
    "proxy.istio.io/config: '{{\"proxyStatsMatcher\": {{\"inclusionRegexps\": [\".*outbound.*\"]}}}}'"
)


def service_filter(service: str, namespace: str) -> tuple[str, str]:
    """`httpbin[:8000]` -> (RE2 for its outbound clusters' stats, the FQDN)."""
    from kubectl_meshdebug.envoy.stats import cluster_stat_re
    from kubectl_meshdebug.mesh.hosts import resolve_host

    host, _, port = service.partition(":")
    if port and not port.isdecimal():
        raise UsageError(f"--service {service!r}: port must be a number")
    fqdn = resolve_host(host, namespace)
    if "." in host and not host.endswith(".svc.cluster.local") and host.count(".") == 1:
        fqdn = f"{host}.svc.cluster.local"
    port_re = re.escape(port) if port else r"[0-9]+"
    return cluster_stat_re(rf"outbound\|{port_re}\|[^|]*\|{re.escape(fqdn)}"), fqdn


@click.command("stats", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug stats sleep-5b59 --filter 'upstream_rq_pending_overflow|upstream_cx_none_healthy'
  kubectl meshdebug stats sleep-5b59 --service httpbin:8000 --nonzero
  kubectl meshdebug stats sleep-5b59 --filter '^listener_manager' --delta 10
  kubectl meshdebug stats -l app=sleep --filter cds.update_rejected
  kubectl meshdebug stats sleep-5b59 -o prometheus --filter rq_503
""")
@click.argument("pod", required=False)
@click.option("-l", "--selector", metavar="SELECTOR", help="Every pod matching labels.")
@click.option("--filter", "filter_re", metavar="REGEX",
              help="Only stats whose name matches (RE2 search, as Envoy applies it).")
@click.option("--service", metavar="SVC[:PORT]",
              help="Only the stats of that Service's outbound clusters (| escaped for you).")
@click.option("--usedonly", is_flag=True, help="Only stats Envoy has updated.")
@click.option("--nonzero", is_flag=True, help="Hide zero counters and gauges.")
@click.option("--type", "stat_type", type=click.Choice(["counters", "gauges", "histograms"]),
              help="Only one kind of stat.")
@click.option("--delta", "delta_seconds", type=FiniteFloatRange(0.1, 3600), metavar="SECONDS",
              help="Sample twice, SECONDS apart, and show what changed with the rate per second.")
@all_namespaces_option
@concurrency_option
@global_options(outputs=("table", "wide", "json", "yaml", "prometheus", "raw"))
@click.pass_context
def stats(ctx: click.Context, pod: str | None, selector: str | None, filter_re: str | None,
          service: str | None, usedonly: bool, nonzero: bool, stat_type: str | None,
          delta_seconds: float | None) -> int:
    """Envoy stats of a pod's sidecar, filtered and explained.

    A stat the proxy does not have is reported as absent, not as zero: Istio keeps only a
    few stats unless the pod sets proxyStatsMatcher. Besides table, json and yaml,
    -o prometheus prints Envoy's Prometheus text and -o raw its plain text.
    """
    rt = runtime(ctx, outputs=("table", "wide", "json", "yaml", "prometheus", "raw"))
    from kubectl_meshdebug.envoy.stats import delta, validate_regex

    output = rt.settings.output
    if filter_re and service:
        raise UsageError("give --filter or --service, not both")
    if filter_re:
        validate_regex(filter_re)
    if service:
        service_filter(service, "default")  # reject a bad SVC:PORT before any call
    if delta_seconds and output in ("prometheus", "raw"):
        raise UsageError(f"--delta cannot be combined with -o {output}")
    proxies = rt.proxies([pod] if pod else [], selector)

    def pattern(proxy: Proxy) -> str | None:
        return service_filter(service, proxy.namespace)[0] if service else filter_re

    def fetch(proxy: Proxy) -> Any:
        if output in ("prometheus", "raw"):
            return proxy.admin.stats_text(pattern(proxy), usedonly, stat_type,
                                          "prometheus" if output == "prometheus" else None)
        return proxy.admin.stats(pattern(proxy), usedonly, stat_type)

    first = rt.fan_out(proxies, fetch, progress="stats")
    printer = rt.printer
    if len(proxies) == 1 and isinstance(first[0], MeshdebugError):
        raise first[0]
    if output in ("prometheus", "raw"):
        for proxy, text in zip(proxies, first, strict=True):
            if isinstance(text, MeshdebugError):
                printer.note(f"{proxy.label}: error: {text.one_line()}")
            else:
                printer.raw(text)
        return rt.sweep_exit(first, False)
    second = None
    if delta_seconds:
        started = time.monotonic()
        time.sleep(delta_seconds)
        second = rt.fan_out(proxies, fetch, progress="stats")
        delta_seconds = time.monotonic() - started
    items: list[dict[str, Any]] = []
    notes: list[str] = []
    failures = 0
    for i, proxy in enumerate(proxies):
        sample = first[i]
        if isinstance(sample, MeshdebugError):
            failures += 1
            notes.append(f"{proxy.label}: error: {sample.one_line()}")
            continue
        if second is not None:
            after = second[i]
            if isinstance(after, MeshdebugError):
                failures += 1
                notes.append(f"{proxy.label}: error: {after.one_line()}")
                continue
            for row in delta(sample, after, delta_seconds or 1):
                items.append({"pod": proxy.label, **row})
        else:
            for stat in sample:
                if nonzero and stat.value == 0:
                    continue
                items.append({"pod": proxy.label, "name": stat.name, "value": stat.value})
        if not sample and service:
            fqdn = service_filter(service, proxy.namespace)[1]
            notes.append(ABSENT_NOTE.format(what=f"outbound|…|{fqdn}", pod=proxy.label))
        elif not sample and filter_re:
            if "cluster." in filter_re or "upstream_" in filter_re:
                notes.append(ABSENT_NOTE.format(what="…", pod=proxy.label))
            else:
                notes.append(f"note: no stat on {proxy.label} matches {filter_re!r}")
    multi = len(proxies) > 1
    if second is not None:
        columns = [Column("name", "NAME"), Column("before", "BEFORE"), Column("after", "AFTER"),
                   Column("delta", "DELTA"), Column("per_second", "PER SECOND")]
        kind = "StatDeltaList"
        if not items:
            notes.append(f"nothing changed in {delta_seconds:.1f}s")
    else:
        columns = [Column("name", "NAME"), Column("value", "VALUE")]
        kind = "StatList"
    if multi:
        columns.insert(0, Column("pod", "POD"))
    printer.listing(Listing(kind, items, columns, notes))
    return rt.sweep_exit(first + (second or []), False) if failures else 0
