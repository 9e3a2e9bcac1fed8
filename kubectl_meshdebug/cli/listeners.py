"""`listeners`: one proxy's listeners and filter chains."""

from __future__ import annotations

import click

from kubectl_meshdebug.cli.common import CONTEXT
from kubectl_meshdebug.cli.options import PORT, global_options
from kubectl_meshdebug.cli.proxyconfig import Source, emit, pod_and_dump
from kubectl_meshdebug.render.output import Listing


@click.command("listeners", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug listeners sleep-5b59 --port 443
  kubectl meshdebug listeners httpbin-7d9c --type HTTP -o wide
""")
@pod_and_dump
@click.option("--port", type=PORT, help="Only listeners on this port.")
@click.option("--address", help="Only listeners on this address.")
@click.option("--type", "ltype", type=click.Choice(["HTTP", "TCP"], case_sensitive=False),
              help="Only listeners with HTTP or TCP filter chains.")
@global_options
@click.pass_context
def listeners(ctx: click.Context, pod: str | None, dump_file: str | None, port: int | None,
              address: str | None, ltype: str | None) -> int:
    """Envoy listeners with their filter chains: protocol, mTLS requirement and destination."""
    from kubectl_meshdebug.mesh import rows
    from kubectl_meshdebug.render.proxyconfig import LISTENER_COLUMNS

    src = Source(ctx, pod, dump_file)
    items = rows.listener_rows(src.dump(["listeners"]))
    if port is not None:
        items = [i for i in items if i["port"] == port or i.get("chain_port") == port]
    if address is not None:
        items = [i for i in items if i["address"] == address]
    if ltype is not None:
        items = [i for i in items if i["type"] == ltype.upper()]
    return emit(ctx, Listing("ListenerList", items, LISTENER_COLUMNS), src)
