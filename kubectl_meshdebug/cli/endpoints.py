"""`endpoints`: one proxy's endpoints with health spelled out and the pod behind."""

from __future__ import annotations

import click

from kubectl_meshdebug.cli.common import CONTEXT
from kubectl_meshdebug.cli.options import PORT, global_options
from kubectl_meshdebug.cli.proxyconfig import Source, emit, pod_and_dump
from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.render.output import Listing


@click.command("endpoints", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug endpoints sleep-5b59 --cluster 'outbound|8000||httpbin.foo.svc.cluster.local'
  kubectl meshdebug endpoints sleep-5b59 --status unhealthy
""")
@pod_and_dump
@click.option("--cluster", help="Only this cluster (exact name or a substring).")
@click.option("--status", type=click.Choice(["healthy", "unhealthy"], case_sensitive=False),
              help="Only healthy or unhealthy endpoints.")
@click.option("--port", type=PORT, help="Only endpoints on this port.")
@click.option("--address", help="Only endpoints at this address.")
@global_options
@click.pass_context
def endpoints(ctx: click.Context, pod: str | None, dump_file: str | None, cluster: str | None,
              status: str | None, port: int | None, address: str | None) -> int:
    """Envoy endpoints (from /clusters) with every health flag spelled out and the pod behind."""
    from kubectl_meshdebug.mesh import rows

    src = Source(ctx, pod, dump_file)
    statuses = src.statuses()
    if statuses is None:
        dump = src.dump(["endpoints"])
        if not dump.has_endpoints():
            raise UsageError(f"--dump {dump_file} has no endpoints",
                             hint="save it with /config_dump?include_eds")
        items = rows.endpoint_rows_from_dump(dump, src.context())
    else:
        items = rows.endpoint_rows(statuses, src.context())
    if cluster is not None:
        items = [i for i in items if i["cluster"] == cluster or cluster in i["cluster"]]
    if status is not None:
        items = [i for i in items if i["status"] == status.upper()]
    if port is not None:
        items = [i for i in items if i["port"] == port]
    if address is not None:
        items = [i for i in items if i["address"] == address]
    from kubectl_meshdebug.render.proxyconfig import ENDPOINT_COLUMNS

    return emit(ctx, Listing("EndpointList", items, ENDPOINT_COLUMNS), src)
