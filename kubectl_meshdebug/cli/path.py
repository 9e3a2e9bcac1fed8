"""`path POD SVC`: the hops a call takes from the client's sidecar to the application."""

from __future__ import annotations

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import ascii_option, call_options, global_options
from kubectl_meshdebug.errors import EXIT_FINDINGS, EXIT_OK

OUTPUTS = ("table", "wide", "json", "yaml", "dot", "mermaid")


@click.command("path", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug path sleep-5b59 httpbin -n foo
  kubectl meshdebug path deploy/sleep reviews.bookinfo:9080 --ascii
  kubectl meshdebug path sleep httpbin -n foo -o dot | dot -Tsvg > path.svg
  kubectl meshdebug path sleep httpbin -n foo -o mermaid     # paste into a document
  kubectl meshdebug path sleep httpbin -n foo -f objects.yaml \\
      --admin-url foo/sleep=http://127.0.0.1:15000            # offline
""")
@click.argument("pod")
@click.argument("service")
@call_options
@ascii_option
@global_options(outputs=OUTPUTS)
@click.pass_context
def path(ctx: click.Context, pod: str, service: str, servers: tuple[str, ...], logs: bool,
         log_files: tuple[str, ...], tail: int, ascii_only: bool) -> int:
    """Show every hop of a call from POD to SERVICE as the proxies hold it, the broken one
    marked.

    The hops: the client and its sidecar, the outbound listener, the route (VirtualService,
    weights, timeout, retries), the cluster (subset, DestinationRule, TLS sent, circuit
    breakers), the endpoints and their health, the server's sidecar (inbound listener,
    mTLS required, PeerAuthentication) and the application. Each is ok, broken (with the
    finding that breaks it; see why-503 for its evidence and fix) or unknown (not read).
    Reads what why-503 reads. Exit code 1 when a hop is broken.
    """
    from kubectl_meshdebug.checks.callpath import build_path
    from kubectl_meshdebug.cli.diagnosis import diagnose
    from kubectl_meshdebug.render.callpath import path_lines, to_dot, to_mermaid

    rt = runtime(ctx, outputs=OUTPUTS)
    call = diagnose(rt, pod, service, servers, logs, log_files, tail)
    doc = build_path(call.why, call.findings).to_dict()
    output = rt.settings.output
    if output in ("json", "yaml"):
        rt.printer.document({"kind": "CallPath", **doc, "errors": call.unread})
    elif output == "dot":
        rt.printer.raw(to_dot(doc))
    elif output == "mermaid":
        rt.printer.raw(to_mermaid(doc))
    else:
        for line in path_lines(rt.printer, doc, ascii_only):
            rt.printer.line(line)
        broken = doc["broken"]
        if broken and broken["finding"]:
            rt.printer.line()
            rt.printer.line(f"broken at the {broken['hop']}: [{broken['finding']}]. The evidence "
                            "and the fix: why-503 with the same arguments.")
        for line in call.unread[:5]:
            rt.printer.note(f"note: could not read {line}")
    rt.note_limits()
    return EXIT_FINDINGS if doc["broken"] else EXIT_OK
