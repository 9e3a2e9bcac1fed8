"""Sidecar resources: whether a client's egress listing lets it see a host at all."""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.kube.state import meta
from kubectl_meshdebug.mesh.hosts import host_matches

Obj = dict[str, Any]


def egress_hosts(sidecar: Obj) -> list[str]:
    return [str(h) for e in (sidecar.get("spec") or {}).get("egress") or []
            for h in e.get("hosts") or []]


def egress_allows(sidecar: Obj, host: str, host_namespace: str | None) -> bool:
    """`ns/dnsName` entries: ns is a namespace, `.` (the Sidecar's own) or `*`/`~`."""
    own = meta(sidecar).get("namespace")
    for entry in egress_hosts(sidecar):
        ns, _, name = entry.partition("/")
        if not name:
            ns, name = "*", entry
        if ns == "~":
            continue
        if ns == "." and host_namespace != own:
            continue
        if ns not in ("*", ".") and ns != host_namespace:
            continue
        if host_matches(name, host):
            return True
    return False
