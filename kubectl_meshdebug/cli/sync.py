"""`sync`: is each proxy's configuration current and accepted by Envoy?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, read_text_file, runtime
from kubectl_meshdebug.cli.options import all_namespaces_option, concurrency_option, global_options
from kubectl_meshdebug.errors import MeshdebugError
from kubectl_meshdebug.render.output import Column, Listing

if TYPE_CHECKING:
    from kubectl_meshdebug.cli.runtime import Proxy


@click.command("sync", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug sync sleep-5b59 -n foo
  kubectl meshdebug sync -l app=reviews -n bookinfo
  kubectl meshdebug sync -A                         # every sidecar, with progress
  kubectl meshdebug sync sleep-5b59 --log-file istio-proxy.log   # the rejection message
""")
@click.argument("pods", nargs=-1)
@click.option("-l", "--selector", metavar="SELECTOR", help="Every pod matching labels.")
@click.option("--log-file", "log_file", metavar="FILE",
              help="The proxy's log, for the message of the last rejection.")
@click.option("--logs", "live_logs", is_flag=True,
              help="Read each proxy's log through the API server for that message.")
@all_namespaces_option
@concurrency_option
@global_options
@click.pass_context
def sync(ctx: click.Context, pods: tuple[str, ...], selector: str | None,
         log_file: str | None, live_logs: bool) -> int:
    """Is this proxy's configuration current and accepted?

    /ready and the server state, the cds/lds/rds update counters (attempts, successes,
    rejections), the xDS connection to istiod, warming clusters and listeners, and listeners
    Envoy rejected. With -l or -A, a table over many proxies. Exit code 1 when a proxy is
    not ready, rejected config, lost istiod, or is still warming.
    """
    from kubectl_meshdebug.envoy.proxylog import scan
    from kubectl_meshdebug.envoy.sync import sync_status

    rt = runtime(ctx)
    if rt.settings.all_namespaces and not pods and not selector:
        selector = ""
    proxies = rt.proxies(list(pods), selector)
    results = rt.fan_out(proxies, lambda p: sync_status(p.admin), progress="sync")
    def last_rejection(text: str) -> str:
        signals = [s for s in scan(text.splitlines())
                   if s.kind in ("config-rejected", "not-ready")]
        return signals[-1].line if signals else ""

    file_rejection = last_rejection(read_text_file(log_file, "--log-file")) if log_file else ""
    items: list[dict[str, Any]] = []
    for proxy, result in zip(proxies, results, strict=True):
        rejection = file_rejection
        if live_logs and not rt.offline and rt.has_cluster_view() and not isinstance(
                result, MeshdebugError) and result.verdict != "SYNCED":
            try:
                rejection = last_rejection(rt.state().source.pod_log(
                    proxy.namespace, proxy.name, rt.settings.container, 500))
            except MeshdebugError as exc:
                rt.printer.note(f"note: no log for {proxy.label}: {exc.one_line()}")
        items.append(_row(proxy, result, rejection))
    if len(proxies) == 1 and isinstance(results[0], MeshdebugError):
        raise results[0]
    if rt.settings.output in ("json", "yaml"):
        rt.printer.document({"kind": "SyncStatusList", "items": items})
    elif len(items) == 1 and not selector:
        _detail(rt, items[0])
    else:
        rt.printer.listing(Listing("SyncStatusList", items, [
            Column("pod", "POD"), Column("verdict", "STATUS"), Column("cds_text", "CDS"),
            Column("lds_text", "LDS"), Column("xds", "XDS"), Column("version", "VERSION"),
            Column("problem", "PROBLEM")]))
    bad = [i for i, r in zip(items, results, strict=True)
           if not isinstance(r, MeshdebugError) and i["verdict"] != "SYNCED"]
    return rt.sweep_exit(results, bool(bad))


def _counts(counters: dict[str, Any]) -> str:
    if not counters:
        return "-"
    return (f"{counters.get('update_success', 0)} ok/{counters.get('update_rejected', 0)} "
            f"rejected")


def _row(proxy: Proxy, result: Any, rejection: str) -> dict[str, Any]:
    if isinstance(result, MeshdebugError):
        return {"pod": proxy.label, "verdict": "UNREACHABLE", "problem": result.one_line(),
                "problems": [result.one_line()]}
    doc = result.to_dict()
    problems = list(doc["problems"])
    if rejection and doc["verdict"] != "SYNCED":
        problems.append(f"log: {rejection}")
    return {"pod": proxy.label, **doc, "problems": problems,
            "cds_text": _counts(doc["cds"]), "lds_text": _counts(doc["lds"]),
            "xds": {None: "n/a", 0: "disconnected", 1: "connected"}.get(doc["connected"], "?"),
            "problem": problems[0] if problems else ""}


def _detail(rt: Any, item: dict[str, Any]) -> None:
    p = rt.printer
    p.line(f"{item['pod']}: {item['verdict']}")
    if item.get("verdict") == "UNREACHABLE":
        p.line(f"  {item['problem']}")
        return
    p.line(f"  ready: {item['ready']} ({item['state']}), Istio {item['version'] or '-'}")
    p.line(f"  cds: {_counts(item['cds'])}, version {item['cds'].get('version_text', '-')}")
    p.line(f"  lds: {_counts(item['lds'])}, version {item['lds'].get('version_text', '-')}")
    if item["rds_rejected"]:
        p.line("  rds rejected: " + ", ".join(f"{k} x{v}" for k, v in item["rds_rejected"].items()))
    p.line(f"  xDS connection: {item['xds']}")
    for problem in item["problems"]:
        p.line(f"  PROBLEM: {problem}")
