"""`config-dump`: the proxy's config dump, redacted, whole or via JSONPath."""

from __future__ import annotations

import click

from kubectl_meshdebug.cli.common import (
    CONTEXT,
    check_writable,
    load_dump_document,
    runtime,
    write_atomically,
)
from kubectl_meshdebug.cli.options import global_options
from kubectl_meshdebug.cli.proxyconfig import Source, pod_and_dump

SECTIONS = {
    "clusters": "ClustersConfigDump", "listeners": "ListenersConfigDump",
    "routes": "RoutesConfigDump", "endpoints": "EndpointsConfigDump",
    "secrets": "SecretsConfigDump", "bootstrap": "BootstrapConfigDump",
}


@click.command("config-dump", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug config-dump sleep-5b59 --save sleep.json      # redacted, with EDS
  kubectl meshdebug config-dump sleep-5b59 --resource clusters \\
      --jsonpath '$.configs[*].dynamic_active_clusters[?(@.cluster.name =~ ".*httpbin.*")]\
.cluster.transport_socket'
  kubectl meshdebug clusters --dump sleep.json                   # read it back later
""")
@pod_and_dump
@click.option("--resource", type=click.Choice(sorted(SECTIONS)),
              help="Only this section of the dump.")
@click.option("--jsonpath", "expr", metavar="EXPR",
              help="Print what a JSONPath expression (jsonpath-ng, extended) selects.")
@click.option("--save", "save_file", metavar="FILE",
              help="Write the (redacted) dump to FILE, including endpoints.")
@global_options
@click.pass_context
def config_dump(ctx: click.Context, pod: str | None, dump_file: str | None,
                resource: str | None, expr: str | None, save_file: str | None) -> int:
    """The proxy's /config_dump with private keys redacted, or the part a JSONPath selects."""
    from kubectl_meshdebug.envoy.redact import redact

    if save_file:
        check_writable(save_file, "--save")
    src = Source(ctx, pod, dump_file)
    if src.proxy is not None:
        doc = src.proxy.admin.config_dump(include_eds=True)
    else:
        doc = load_dump_document(dump_file or "-")
    doc = redact(doc)
    if resource:
        wanted = SECTIONS[resource]
        doc = {"configs": [c for c in doc.get("configs", [])
                           if str(c.get("@type", "")).rsplit(".", 1)[-1] == wanted]}
    if save_file:
        from kubectl_meshdebug.render.output import json_text

        write_atomically(save_file, "--save", json_text(doc))
        runtime(ctx).printer.note(f"saved {save_file}")
        if not expr:
            return 0
    printer = runtime(ctx).printer
    if expr:
        from kubectl_meshdebug.envoy.jsonpath import select

        matches = select(doc, expr)
        printer.document(matches[0] if len(matches) == 1 else matches)
    else:
        printer.document(doc)
    return 0
