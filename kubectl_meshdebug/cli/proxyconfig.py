"""What the proxy-config commands share (clusters, routes, listeners, endpoints, config-dump).

Each reads a live proxy (exec, port-forward or --admin-url) or a saved dump (--dump).
With cluster objects at hand (-f, or a live cluster), rows are joined to the owning
Service, DestinationRule and VirtualService (see mesh/correlate.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import load_dump, runtime
from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.render.output import Listing

if TYPE_CHECKING:  # imported when a command runs, so that --help stays fast
    from kubectl_meshdebug.envoy.clusters_status import ClusterStatus
    from kubectl_meshdebug.envoy.config_dump import ConfigDump


def pod_and_dump(fn: Callable[..., Any]) -> Callable[..., Any]:
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

    def dump(self, parts: list[str], with_statuses: bool = False) -> ConfigDump:
        """The dump's PARTS; WITH_STATUSES also fetches a live proxy's /clusters in the
        same round trip, for statuses() to take."""
        if self.dump_file:
            if self._dump is None:
                self._dump = load_dump(self.dump_file, parts)
            return self._dump
        from kubectl_meshdebug.envoy import views

        assert self.proxy is not None
        admin = self.proxy.admin
        if with_statuses:
            admin.prefetch([*views.dump_calls(admin, parts), admin.cluster_statuses])
        self._dump = views.fetch_dump(admin, parts)
        return self._dump

    def notes(self) -> list[str]:
        """What the reader could not use, said rather than silently dropped."""
        skipped = self._dump.skipped if self._dump is not None else 0
        if skipped:
            return [f"note: {skipped} malformed resources in the dump were skipped"]
        return []

    def statuses(self) -> dict[str, ClusterStatus] | None:
        """Live per-host health from /clusters; None for a saved dump."""

        if self.proxy is None:
            return None
        return self.proxy.admin.cluster_statuses()

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


def emit(ctx: click.Context, listing: Listing, source: Source | None = None) -> int:
    if source is not None:
        listing.notes += source.notes()
    runtime(ctx).printer.listing(listing)
    return 0
