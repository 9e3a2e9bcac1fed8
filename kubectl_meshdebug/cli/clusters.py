"""`clusters`: one proxy's Envoy clusters, joined to Services and DestinationRules."""

from __future__ import annotations

import click

from kubectl_meshdebug.cli.common import CONTEXT
from kubectl_meshdebug.cli.options import PORT, global_options
from kubectl_meshdebug.cli.proxyconfig import Source, emit, pod_and_dump
from kubectl_meshdebug.render.output import Listing


@click.command("clusters", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug clusters sleep-5b59 -n foo
  kubectl meshdebug clusters sleep-5b59 --fqdn httpbin.foo.svc.cluster.local -o wide
  kubectl meshdebug clusters --dump config_dump.json --direction inbound
""")
@pod_and_dump
@click.option("--fqdn", help="Only clusters for this host (FQDN or short name).")
@click.option("--port", type=PORT, help="Only clusters for this port.")
@click.option("--subset", help="Only this subset ('' for the default).")
@click.option("--direction", type=click.Choice(["inbound", "outbound", "other"]),
              help="Only inbound, outbound, or the others (passthrough, control plane...).")
@global_options
@click.pass_context
def clusters(ctx: click.Context, pod: str | None, dump_file: str | None, fqdn: str | None,
             port: int | None, subset: str | None, direction: str | None) -> int:
    """Envoy clusters: direction, port, subset, host, type, endpoints, TLS, breakers, outliers.

    With the mesh objects at hand, each cluster also shows its Service, DestinationRule,
    how many running pods its subset selects, and the TLS the mesh expects, marked (!)
    where Envoy's TLS disagrees.
    """
    from kubectl_meshdebug.mesh import rows
    from kubectl_meshdebug.render import proxyconfig as words

    src = Source(ctx, pod, dump_file)
    dump = src.dump(["clusters", "endpoints"] if dump_file else ["clusters"], with_statuses=True)
    keep = rows.cluster_filter(fqdn=fqdn, port=port, subset=subset, direction=direction)
    items = rows.cluster_rows(dump, src.statuses(), src.context(), keep)
    columns = list(words.CLUSTER_COLUMNS)
    if any("expected_tls" in i for i in items):
        columns += words.CLUSTER_JOINED
    columns += words.CLUSTER_WIDE
    return emit(ctx, Listing("ClusterList", items, columns), src)
