"""`why-503 POD SVC`: why calls from a pod to a Service fail, proved from the proxies."""

from __future__ import annotations

from typing import Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import ascii_option, call_options, global_options
from kubectl_meshdebug.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNREACHABLE


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
@call_options
@click.option("--no-path", is_flag=True, help="Leave the request path picture out.")
@ascii_option
@global_options
@click.pass_context
def why_503(ctx: click.Context, pod: str, service: str, servers: tuple[str, ...], logs: bool,
            log_files: tuple[str, ...], tail: int, no_path: bool, ascii_only: bool) -> int:
    """Find why calls from POD to SERVICE fail (503, 502, 404, resets), with the evidence and
    the fix.

    Reads the client's sidecar (the route and cluster the call takes, TLS, circuit breakers,
    endpoints and their health, config updates), the server pods' sidecars (the inbound
    listener and whether it requires mTLS, the inbound cluster), the access logs when
    available, and the Services, DestinationRules, VirtualServices, PeerAuthentications and
    Sidecars around them. Exit code 1 when it finds errors.
    """
    from kubectl_meshdebug.checks.callpath import build_path
    from kubectl_meshdebug.cli.diagnosis import diagnose
    from kubectl_meshdebug.render.callpath import path_lines
    from kubectl_meshdebug.render.findings import (
        findings_document,
        print_findings,
        verdict,
    )

    rt = runtime(ctx)
    call = diagnose(rt, pod, service, servers, logs, log_files, tail)
    why, findings, unread, texts = call.why, call.findings, call.unread, call.texts
    client, target, server_proxies = call.client, why.target, call.servers
    path = None if no_path else build_path(why, findings).to_dict()
    if rt.settings.output in ("json", "yaml"):
        doc = findings_document({"client": client.label, "host": target.host,
                                 "port": target.port}, why.checked, findings)
        doc["read"] = call.read
        doc["errors"] = unread
        if path is not None:
            doc["path"] = path
        rt.printer.document(doc)
    else:
        # The answer first, then the picture of the path, then the evidence and the fixes.
        title = f"why-503: {client.label} -> {target.label}"
        access_lines = any(v.has_access_lines for v in [why.client, *why.servers])
        none_found = _none_found(why, access_lines)
        rt.printer.line(verdict(rt.printer, findings, title=title, unread=len(unread),
                                none_found=none_found))
        rt.printer.line()
        if path is not None:
            for line in path_lines(rt.printer, path, ascii_only):
                rt.printer.line(line)
            rt.printer.line()
        print_findings(rt.printer, findings, title=title, checked=why.checked,
                       wide=rt.settings.output == "wide", unread=len(unread),
                       none_found=none_found, headline=False)
        for line in unread[:5]:
            rt.printer.note(f"note: could not read {line}")
        if not texts:
            rt.printer.note("note: no access logs read; add --logs (or --log-file) to see "
                            "response flags; Istio's default install has them off (turn "
                            "them on for one workload: kubectl meshdebug explain failures-unexplained)")
        elif not access_lines:
            rt.printer.note("note: the logs read hold no access-log line: access logging is "
                            "off (Istio's default); turn it on for one workload: kubectl "
                            "meshdebug explain failures-unexplained")
    rt.note_limits()
    if any(f.severity == "error" for f in findings):
        return EXIT_FINDINGS
    # Offline (-f) a server without --admin-url is unread by design, not by failure.
    servers_unread = {p.label for p in server_proxies
                      if (p.admin is not None or not rt.offline)} & {
        line.split(": ", 1)[0] for line in unread}
    if servers_unread:
        # Nothing error-level was found, but a server sidecar of the call was not read:
        # "no problem" would be a claim about a proxy nobody looked at.
        rt.printer.note("error: could not read the server sidecar"
                        f"{'s' if len(servers_unread) > 1 else ''} "
                        f"{', '.join(sorted(servers_unread))}; the diagnosis is incomplete")
        return EXIT_UNREACHABLE
    return EXIT_OK


def _none_found(why: Any, access_lines: bool) -> str:
    """What "no finding" means here: with no access-log line read (no log, or a log with
    access logging off), the counters of the call's clusters are all there is, and they
    saw no failing call (not "no problem")."""
    from kubectl_meshdebug.checks.counters import counted_failures

    if access_lines:
        return "No problems found."
    counted = counted_failures(why)
    if counted is None:
        return "No problems found in what could be read (no access log, no counters)."
    return "No failing call seen in what was read."
