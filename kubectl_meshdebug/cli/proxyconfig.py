"""`clusters`, `routes`, `listeners`, `endpoints`, `config-dump`: one proxy's config, readable.

Each reads a live proxy (exec, port-forward or --admin-url) or a saved dump (--dump).
With cluster objects at hand (-f, or a live cluster), rows are joined to the owning
Service, DestinationRule and VirtualService (see mesh/correlate.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import click

from kubectl_meshdebug.cli.common import CONTEXT, load_dump, runtime
from kubectl_meshdebug.cli.options import global_options
from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.render.output import Column, Listing

if TYPE_CHECKING:  # imported when a command runs, so that --help stays fast
    from kubectl_meshdebug.envoy.clusters_status import ClusterStatus
    from kubectl_meshdebug.envoy.config_dump import ConfigDump


def _pod_and_dump(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--dump", "dump_file", metavar="FILE",
                      help="Read a saved /config_dump (or config-dump --save output; - for "
                      "stdin) instead of a live proxy.")(fn)
    fn = click.argument("pod", required=False)(fn)
    return fn


class Source:
    """Where a command's Envoy data comes from: a live proxy or a saved dump."""

    def __init__(self, ctx: click.Context, pod: str | None, dump_file: str | None) -> None:
        self.rt = runtime(ctx)
        if not dump_file and not pod:
            raise UsageError("name a POD, or read a saved dump with --dump FILE")
        self.dump_file = dump_file
        self.proxy = None if dump_file else self.rt.proxy(pod or "")
        self.pod_name = pod
        self._dump: ConfigDump | None = None

    def dump(self, parts: list[str]) -> ConfigDump:
        if self.dump_file:
            if self._dump is None:
                self._dump = load_dump(self.dump_file, parts)
            return self._dump
        from kubectl_meshdebug.envoy import views

        assert self.proxy is not None
        return views.fetch_dump(self.proxy.admin, parts)

    def statuses(self) -> dict[str, ClusterStatus] | None:
        """Live per-host health from /clusters; None for a saved dump."""
        from kubectl_meshdebug.envoy.clusters_status import parse_clusters_json

        if self.proxy is None:
            return None
        return parse_clusters_json(self.proxy.admin.clusters_json())

    def context(self) -> Any:
        """Mesh objects for correlation, when there are any to read."""
        from kubectl_meshdebug.mesh.correlate import MeshContext

        if not self.rt.has_cluster_view():
            return None
        if self.dump_file and not self.rt.offline and not self.pod_name:
            return None  # a saved dump alone: no cluster to join it to
        pod = self.proxy.pod if self.proxy else None
        if pod is None and self.pod_name and self.rt.offline:
            pod = self.rt.state().get("Pod", self.rt.namespace, self.pod_name)
        return MeshContext.build(self.rt.state(), pod, self.rt.namespace)


def _emit(ctx: click.Context, listing: Listing) -> int:
    runtime(ctx).printer.listing(listing)
    return 0


@click.command("clusters", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug clusters sleep-5b59 -n foo
  kubectl meshdebug clusters sleep-5b59 --fqdn httpbin.foo.svc.cluster.local -o wide
  kubectl meshdebug clusters --dump config_dump.json --direction inbound
""")
@_pod_and_dump
@click.option("--fqdn", help="Only clusters for this host (FQDN or short name).")
@click.option("--port", type=int, help="Only clusters for this port.")
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

    src = Source(ctx, pod, dump_file)
    dump = src.dump(["clusters", "endpoints"] if dump_file else ["clusters"])
    items = rows.cluster_rows(dump, src.statuses(), src.context())
    items = rows.filter_clusters(items, fqdn=fqdn, port=port, subset=subset, direction=direction)
    columns = [
        Column("direction", "DIRECTION"), Column("port", "PORT"), Column("subset", "SUBSET"),
        Column("fqdn", "SERVICE FQDN"), Column("type", "TYPE"),
        Column("endpoints", "ENDPOINTS"), Column("tls", "TLS"),
    ]
    if any(i.get("service") or i.get("destination_rule") for i in items):
        columns += [Column("expected_tls", "EXPECTED TLS"),
                    Column("destination_rule", "DESTINATIONRULE"),
                    Column("subset_pods", "SUBSET PODS")]
    columns += [Column("circuit_breakers_text", "CIRCUIT BREAKERS", wide=True),
                Column("outlier_text", "OUTLIER", wide=True), Column("name", "NAME", wide=True)]
    return _emit(ctx, Listing("ClusterList", items, columns))


@click.command("routes", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug routes sleep-5b59 --name 8000
  kubectl meshdebug routes sleep-5b59 --name 443 -o wide     # who claims port 443 as HTTP?
""")
@_pod_and_dump
@click.option("--name", "route_name", help="Only this route configuration (e.g. 8000, 443).")
@click.option("--domain", help="Only virtual hosts that answer this Host header.")
@global_options
@click.pass_context
def routes(ctx: click.Context, pod: str | None, dump_file: str | None, route_name: str | None,
           domain: str | None) -> int:
    """Envoy routes: route config, virtual host, domains, match, action and target clusters."""
    from kubectl_meshdebug.mesh import rows

    src = Source(ctx, pod, dump_file)
    dump = src.dump(["routes", "listeners"])
    items = rows.route_rows(dump, src.context())
    if route_name is not None:
        items = [i for i in items if i["route_config"] == route_name]
    if domain is not None:
        from kubectl_meshdebug.mesh.hosts import vhost_matches

        items = [i for i in items if vhost_matches(i["domains"], domain)]
    columns = [
        Column("route_config", "NAME"), Column("virtual_host", "VIRTUAL HOST"),
        Column("domains_text", "DOMAINS"), Column("match", "MATCH"),
        Column("targets_text", "CLUSTERS"), Column("virtual_service", "VIRTUALSERVICE"),
        Column("action", "ACTION", wide=True), Column("domains", "ALL DOMAINS", wide=True),
    ]
    return _emit(ctx, Listing("RouteList", items, columns))


@click.command("listeners", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug listeners sleep-5b59 --port 443
  kubectl meshdebug listeners httpbin-7d9c --type HTTP -o wide
""")
@_pod_and_dump
@click.option("--port", type=int, help="Only listeners on this port.")
@click.option("--address", help="Only listeners on this address.")
@click.option("--type", "ltype", type=click.Choice(["HTTP", "TCP"], case_sensitive=False),
              help="Only listeners with HTTP or TCP filter chains.")
@global_options
@click.pass_context
def listeners(ctx: click.Context, pod: str | None, dump_file: str | None, port: int | None,
              address: str | None, ltype: str | None) -> int:
    """Envoy listeners with their filter chains: protocol, mTLS requirement and destination."""
    from kubectl_meshdebug.mesh import rows

    src = Source(ctx, pod, dump_file)
    items = rows.listener_rows(src.dump(["listeners"]))
    if port is not None:
        items = [i for i in items if i["port"] == port or i.get("chain_port") == port]
    if address is not None:
        items = [i for i in items if i["address"] == address]
    if ltype is not None:
        items = [i for i in items if i["type"] == ltype.upper()]
    columns = [
        Column("name", "NAME"), Column("address", "ADDRESS"), Column("port", "PORT"),
        Column("chain_match", "MATCH"), Column("type", "TYPE"),
        Column("mtls", "TLS"), Column("destination", "DESTINATION"),
        Column("state", "STATE", wide=True), Column("direction", "DIRECTION", wide=True),
        Column("error", "ERROR", wide=True),
    ]
    return _emit(ctx, Listing("ListenerList", items, columns))


@click.command("endpoints", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug endpoints sleep-5b59 --cluster 'outbound|8000||httpbin.foo.svc.cluster.local'
  kubectl meshdebug endpoints sleep-5b59 --status unhealthy
""")
@_pod_and_dump
@click.option("--cluster", help="Only this cluster (exact name or a substring).")
@click.option("--status", type=click.Choice(["healthy", "unhealthy"], case_sensitive=False),
              help="Only healthy or unhealthy endpoints.")
@global_options
@click.pass_context
def endpoints(ctx: click.Context, pod: str | None, dump_file: str | None, cluster: str | None,
              status: str | None) -> int:
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
    columns = [
        Column("endpoint", "ENDPOINT"), Column("status", "STATUS"), Column("health", "HEALTH"),
        Column("cluster", "CLUSTER"), Column("pod", "POD"),
        Column("weight", "WEIGHT", wide=True), Column("locality", "LOCALITY", wide=True),
        Column("rq_total", "RQ TOTAL", wide=True), Column("rq_error", "RQ ERROR", wide=True),
        Column("cx_connect_fail", "CONNECT FAIL", wide=True),
    ]
    return _emit(ctx, Listing("EndpointList", items, columns))


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
@_pod_and_dump
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

    src = Source(ctx, pod, dump_file)
    if src.proxy is not None:
        doc = src.proxy.admin.config_dump(include_eds=True)
    else:
        import json

        from kubectl_meshdebug.cli.common import dump_bytes

        raw = dump_bytes(dump_file or "-")
        load_dump(dump_file or "-", raw=raw)  # the same checks and hints as other commands
        doc = json.loads(raw)
    doc = redact(doc)
    if resource:
        wanted = SECTIONS[resource]
        doc = {"configs": [c for c in doc.get("configs", [])
                           if str(c.get("@type", "")).rsplit(".", 1)[-1] == wanted]}
    if save_file:
        import json

        with open(save_file, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
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

