"""`sync`: is each proxy's configuration current and accepted by Envoy?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, read_text_file, runtime
from kubectl_meshdebug.cli.options import all_namespaces_option, concurrency_option, global_options
from kubectl_meshdebug.errors import MeshdebugError, UnreachableError, UsageError
from kubectl_meshdebug.render.output import Column, Listing

if TYPE_CHECKING:
    from kubectl_meshdebug.cli.runtime import Proxy


@click.command("sync", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug sync sleep-5b59 -n foo
  kubectl meshdebug sync -l app=reviews -n bookinfo
  kubectl meshdebug sync -A                         # every sidecar, with progress
  kubectl meshdebug sync sleep-5b59 --log-file istio-proxy.log   # the rejection message
  kubectl meshdebug sync sleep-5b59 -n foo --diff   # what istiod would send, against what it holds
""")
@click.argument("pods", nargs=-1)
@click.option("-l", "--selector", metavar="SELECTOR", help="Every pod matching labels.")
@click.option("--log-file", "log_files", multiple=True, metavar="[[NS/]POD=]FILE",
              help="A proxy's saved log, for the message of the last rejection (a bare "
              "FILE when one pod is read; repeatable).")
@click.option("--logs", "live_logs", is_flag=True,
              help="Read each proxy's log through the API server for that message.")
@click.option("--diff", "diff", is_flag=True,
              help="What istiod would send the proxy now against what it holds, by resource.")
@all_namespaces_option
@concurrency_option
@global_options
@click.pass_context
def sync(ctx: click.Context, pods: tuple[str, ...], selector: str | None,
         log_files: tuple[str, ...], live_logs: bool, diff: bool) -> int:
    """Is this proxy's configuration current and accepted?

    Both sides, as istioctl proxy-status has them and more. istiod's (through the API
    server, as istioctl reaches it): per xDS type SYNCED (the last push acknowledged),
    STALE (sent, not acknowledged), NACK (rejected, with istiod's message) or NOT SENT,
    and the version it sent. The proxy's: /ready and the server state, the cds/lds/rds
    update counters, the xDS connection, warming clusters and listeners, and listeners
    Envoy rejected. Without istiod (offline, --admin-url, no rights in istio-system) only
    the proxy side is read, and a proxy that accepted all it holds is ACCEPTED, not
    SYNCED. With -l or -A, a table over many proxies. Exit code 1 when a proxy is not
    ready, rejected config, lost istiod, is stale or still warming.
    """
    from kubectl_meshdebug.envoy.proxylog import scan
    from kubectl_meshdebug.envoy.sync import sync_status

    rt = runtime(ctx)
    if rt.settings.all_namespaces and not pods and not selector:
        selector = ""
    proxies = rt.proxies(list(pods), selector)
    if diff:
        if len(proxies) != 1:
            raise UsageError("--diff compares one proxy: name one pod")
        return _diff(rt, proxies[0])
    results = rt.fan_out(proxies, lambda p: sync_status(p.admin), progress="sync")
    istiod, pushes = _istiod_side(rt)
    def last_rejection(text: str) -> str:
        signals = [s for s in scan(text.splitlines())
                   if s.kind in ("config-rejected", "not-ready")]
        return signals[-1].line if signals else ""

    from kubectl_meshdebug.cli.logfiles import LogFiles

    given = LogFiles(log_files)
    given.require_one_pod(len(proxies) > 1)
    for name in given.unmatched([p.label for p in proxies]):
        rt.printer.note(f"note: --log-file {name}=...: not a pod read here; not read")
    items: list[dict[str, Any]] = []
    for proxy, result in zip(proxies, results, strict=True):
        path = given.path_for(proxy.label) or given.bare
        rejection = last_rejection(read_text_file(path, "--log-file")) if path else ""
        if live_logs and not rt.offline and rt.has_cluster_view() and not isinstance(
                result, MeshdebugError) and result.verdict != "ACCEPTED":
            try:
                rejection = last_rejection(rt.state().source.pod_log(
                    proxy.namespace, proxy.name, rt.settings.container, 500))
            except MeshdebugError as exc:
                rt.printer.note(f"note: no log for {proxy.label}: {exc.one_line()}")
        items.append(_row(proxy, result, rejection, istiod, pushes))
    if len(proxies) == 1 and isinstance(results[0], MeshdebugError):
        raise results[0]
    if rt.settings.output in ("json", "yaml"):
        rt.printer.document({"kind": "SyncStatusList", "istiod": istiod, "items": items})
    elif len(items) == 1 and not selector:
        _detail(rt, items[0])
    else:
        rt.printer.listing(Listing("SyncStatusList", items, [
            Column("pod", "POD"), Column("verdict", "STATUS"), Column("cds_text", "CDS"),
            Column("lds_text", "LDS"), Column("eds_text", "EDS"), Column("rds_text", "RDS"),
            Column("xds", "XDS"), Column("istiod_name", "ISTIOD"), Column("version", "VERSION"),
            Column("problem", "PROBLEM")]))
    if pushes is None:
        rt.printer.note(f"note: only the proxy side was read ({istiod}): ACCEPTED means the "
                        "proxy took all it holds, not that it holds what istiod sends")
    bad = [i for i, r in zip(items, results, strict=True)
           if not isinstance(r, MeshdebugError) and i["verdict"] not in GOOD]
    return rt.sweep_exit(results, bool(bad))


GOOD = ("SYNCED", "ACCEPTED")
PROXY_TROUBLE = ("NOT READY", "REJECTED", "DISCONNECTED", "WARMING")


def _istiod_side(rt: Any) -> tuple[str, dict[str, Any] | None]:
    """(which istiod answered, its pushes by proxy id), or (why not, None)."""
    from kubectl_meshdebug.cli.istiod import IstiodUnavailable, read_syncz
    from kubectl_meshdebug.mesh.xds_status import parse_syncz

    try:
        name, data = read_syncz(rt)
    except IstiodUnavailable as exc:
        return str(exc), None
    return name, parse_syncz(data)


def _counts(counters: dict[str, Any]) -> str:
    if not counters:
        return "-"
    return (f"{counters.get('update_success', 0)} ok/{counters.get('update_rejected', 0)} "
            f"rejected")


def _row(proxy: Proxy, result: Any, rejection: str, istiod: str,
         pushes: dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(result, MeshdebugError):
        return {"pod": proxy.label, "verdict": "UNREACHABLE", "problem": result.one_line(),
                "problems": [result.one_line()]}
    doc = result.to_dict()
    problems = list(doc["problems"])
    if rejection and doc["verdict"] != "ACCEPTED":
        problems.append(f"log: {rejection}")
    row = {"pod": proxy.label, **doc, "problems": problems,
           "cds_text": _counts(doc["cds"]), "lds_text": _counts(doc["lds"]),
           "eds_text": "-", "rds_text": "-",
           "xds": {None: "n/a", 0: "disconnected", 1: "connected"}.get(doc["connected"], "?"),
           "istiod_name": "-", "pushes": None}
    if pushes is not None:
        push = pushes.get(f"{proxy.name}.{proxy.namespace}")
        if push is None:
            row["verdict"] = row["verdict"] if row["verdict"] in PROXY_TROUBLE else "NOT CONNECTED"
            problems.append(f"istiod {istiod} has no xDS stream from this proxy")
            if doc["connected"] is None:
                row["xds"] = "no stream (istiod)"
        else:
            row["istiod_name"] = istiod
            if doc["connected"] is None:
                # Behind pilot-agent the proxy's own control_plane stats are not kept;
                # istiod holding its stream is the connection seen from the other end.
                row["xds"] = "connected (istiod)"
            row["pushes"] = {t: {"status": s.status, "sent_version": s.sent_version,
                                 "error": s.error} for t, s in push.types.items()}
            for short, state in push.types.items():
                held = (doc.get(short) or {}).get("version_text", "")
                row[f"{short}_text"] = state.status + (
                    "" if state.status != "SYNCED" or not held or held == state.sent_version
                    else f" (holds {held})")
                if state.error:
                    problems.append(f"istiod: {short} NACK: {state.error}")
            if row["verdict"] not in PROXY_TROUBLE:
                row["verdict"] = push.verdict
    row["problem"] = problems[0] if problems else ""
    return row


def _detail(rt: Any, item: dict[str, Any]) -> None:
    p = rt.printer
    p.line(f"{item['pod']}: {item['verdict']}")
    if item.get("verdict") == "UNREACHABLE":
        p.line(f"  {item['problem']}")
        return
    p.line(f"  ready: {item['ready']} ({item['state']}), Istio {item['version'] or '-'}")
    p.line(f"  cds: {_counts(item['cds'])}, version {item['cds'].get('version_text', '-')}")
    p.line(f"  lds: {_counts(item['lds'])}, version {item['lds'].get('version_text', '-')}")
    if item.get("pushes"):
        p.line(f"  istiod {item['istiod_name']}: " + ", ".join(
            f"{t} {v['status']} ({v['sent_version'] or '-'})" for t, v in item["pushes"].items()))
    if item["rds_rejected"]:
        p.line("  rds rejected: " + ", ".join(f"{k} x{v}" for k, v in item["rds_rejected"].items()))
    p.line(f"  xDS connection: {item['xds']}")
    for problem in item["problems"]:
        p.line(f"  PROBLEM: {problem}")


def _diff(rt: Any, proxy: Proxy) -> int:
    """What istiod would send the proxy now against what it holds: resources only on one
    side, and those whose content differs (versions and timestamps aside)."""
    from kubectl_meshdebug.cli.istiod import IstiodUnavailable, istiod_config_dump
    from kubectl_meshdebug.jsonload import loads
    from kubectl_meshdebug.mesh.xds_diff import diff_dumps

    try:
        wanted = istiod_config_dump(rt, f"{proxy.name}.{proxy.namespace}")
    except IstiodUnavailable as exc:
        raise UnreachableError(f"--diff needs istiod: {exc}") from exc
    try:
        held = loads(proxy.admin.call("GET", "/config_dump"))
    except ValueError as exc:
        raise UnreachableError(f"{proxy.label}: its config dump is not JSON") from exc
    rows = diff_dumps(wanted, held)
    if rt.settings.output in ("json", "yaml"):
        rt.printer.document({"kind": "SyncDiff", "pod": proxy.label, "items": rows})
    elif not rows:
        rt.printer.note(f"{proxy.label} holds what istiod would send it now")
    else:
        rt.printer.listing(Listing("SyncDiff", rows, [
            Column("type", "TYPE"), Column("name", "NAME"), Column("change", "CHANGE")]))
    return 1 if rows else 0
