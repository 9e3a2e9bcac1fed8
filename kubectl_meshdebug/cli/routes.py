"""`routes`: one proxy's routes, joined to the VirtualServices behind them."""

from __future__ import annotations

import click

from kubectl_meshdebug.cli.common import CONTEXT
from kubectl_meshdebug.cli.options import global_options
from kubectl_meshdebug.cli.proxyconfig import Source, emit, pod_and_dump
from kubectl_meshdebug.render.output import Listing


@click.command("routes", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug routes sleep-5b59 --name 8000
  kubectl meshdebug routes sleep-5b59 --name 443 -o wide     # who claims port 443 as HTTP?
""")
@pod_and_dump
@click.option("--name", "route_name", help="Only this route configuration (e.g. 8000, 443).")
@click.option("--domain", help="Only virtual hosts that answer this Host header.")
@click.option("--inline", is_flag=True,
              help="Also the route configs inlined in listeners (sidecar inbound, waypoints).")
@global_options
@click.pass_context
def routes(ctx: click.Context, pod: str | None, dump_file: str | None, route_name: str | None,
           domain: str | None, inline: bool) -> int:
    """Envoy routes: route config, virtual host, domains, match, action and target clusters."""
    from kubectl_meshdebug.mesh import rows
    from kubectl_meshdebug.render.proxyconfig import ROUTE_COLUMNS

    src = Source(ctx, pod, dump_file)
    dump = src.dump(["routes", "listeners"])
    items = rows.route_rows(dump, src.context(), inline=inline)
    if route_name is not None:
        items = [i for i in items if i["route_config"] == route_name]
    if domain is not None:
        from kubectl_meshdebug.mesh.hosts import vhost_matches

        items = [i for i in items if vhost_matches(i["domains"], domain)]
    return emit(ctx, Listing("RouteList", items, ROUTE_COLUMNS), src)
