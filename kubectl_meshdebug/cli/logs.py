"""`logs POD --explain`: the proxy's access-log lines with every flag and detail in words."""

from __future__ import annotations

import click

from kubectl_meshdebug.cli.common import CONTEXT, read_text_file, runtime
from kubectl_meshdebug.cli.options import (
    TAIL,
    global_options,
    response_flags_option,
    status_codes_option,
)
from kubectl_meshdebug.errors import UsageError


@click.command("logs", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug logs sleep-5b59 -n foo --explain --status 5xx
  kubectl meshdebug logs sleep-5b59 --explain --flags UC,UF --tail 2000
  kubectl logs sleep-5b59 -c istio-proxy | kubectl meshdebug logs --log-file - --explain
""")
@click.argument("pod", required=False)
@click.option("--explain", is_flag=True, help="Decode each line: flags, details, the finding.")
@click.option("--status", "status_filter", metavar="CODES", callback=status_codes_option,
              help="Only these response codes: 503, 5xx, 4xx,5xx.")
@click.option("--flags", "flag_filter", metavar="FLAGS", callback=response_flags_option,
              help="Only lines with one of these response flags: UC,UF.")
@click.option("--tail", default=500, show_default=True, type=TAIL,
              help="Lines to read through the API server.")
@click.option("--log-file", "log_file", metavar="[[NS/]POD=]FILE",
              help="A saved log instead (- for stdin); POD= says whose it is.")
@global_options
@click.pass_context
def logs(ctx: click.Context, pod: str | None, explain: bool, status_filter: str | None,
         flag_filter: str | None, tail: int, log_file: str | None) -> int:
    """Recent istio-proxy access-log lines (Istio's TEXT format, old or new, or JSON), each
    with its response flags, details and upstream transport failure decoded in words and
    linked to the finding that usually explains it. Lines in other formats are shown as
    they are, never dropped.
    """
    from kubectl_meshdebug.checks.symptoms import explain
    from kubectl_meshdebug.envoy.accesslog import parse_line
    from kubectl_meshdebug.envoy.explain import status_matches
    from kubectl_meshdebug.envoy.flags import split_flags
    from kubectl_meshdebug.envoy.redact import scrub_line

    rt = runtime(ctx)
    if log_file:
        from kubectl_meshdebug.cli.logfiles import LogFiles

        given = LogFiles([log_file])
        named, path = given.named[0] if given.named else ("", given.bare or "")
        if named and pod and not _same_pod(named, pod, rt.namespace):
            raise UsageError(f"--log-file {log_file}: the log of {named}, not of {pod}",
                             hint="give it as FILE, or as POD=FILE for the pod named")
        text = read_text_file(path, "--log-file")
        source = named or ("stdin" if path == "-" else path)
    elif pod:
        if rt.offline or not rt.has_cluster_view():
            raise UsageError("reading a pod's log needs the API server",
                             hint="use --log-file FILE (kubectl logs POD -c istio-proxy > FILE)")
        ref, namespace = rt.pod_target(pod)
        if ref.kind != "Pod":
            proxy = rt.proxy(pod)
            name, namespace = proxy.name, proxy.namespace
        else:
            name = ref.name
        live = rt.state().source
        text = live.pod_log(namespace, name, rt.settings.container, tail)
        source = f"{namespace}/{name}"
    else:
        raise UsageError("name a POD, or give --log-file FILE")
    wanted_flags = set(split_flags(flag_filter or ""))
    filtering = bool(status_filter or wanted_flags)
    items = []
    unknown = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = parse_line(line)
        if entry is None:
            unknown += 1
            if not filtering:
                items.append({"raw": scrub_line(line), "parsed": False})
            continue
        if status_filter and not status_matches(entry, status_filter):
            continue
        if wanted_flags and not wanted_flags & set(entry.flags):
            continue
        item = {"raw": entry.raw, "parsed": True, **entry.to_dict()}
        if explain:
            item.update(explain(entry))
        items.append(item)
    printer = rt.printer
    if rt.settings.output in ("json", "yaml"):
        printer.document({"kind": "AccessLogList", "source": source, "items": items,
                          "other_lines": unknown})
        return 0
    for item in items:
        printer.line(item["raw"])
        if explain and item["parsed"]:
            code = f"{item['status']} {','.join(item['flags']) or '-'}"
            line = f"    {code}: {item['explanation'] or 'no flags'}"
            if item.get("transport_failure"):
                line += f"; transport failure: {item['transport_failure']}"
            printer.line(line)
            if item["finding"]:
                printer.line(f"    likely: {item['finding']} ({item['explain']})")
    if filtering and unknown:
        printer.note(f"note: {unknown} lines were not access-log lines (Envoy's own log)")
    return 0


def _same_pod(named: str, pod: str, namespace: str) -> bool:
    """Whether `--log-file NAMED=FILE` is the log of the POD argument (as written, also in
    the POD.NS form; no API call is made, a file is read instead)."""
    from kubectl_meshdebug.cli.logfiles import names_pod
    from kubectl_meshdebug.kube.targets import dotted_pod

    name = pod.rpartition("/")[2]
    split = dotted_pod(name)
    labels = [f"{namespace}/{name}"] + ([f"{split[1]}/{split[0]}"] if split else [])
    return any(names_pod(named, lb) for lb in labels)
