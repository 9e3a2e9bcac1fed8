"""Fetch only the parts of a proxy's config a command needs, as one ConfigDump.

Live proxies are asked per resource (`/config_dump?resource=...`), which on a large mesh
returns a fraction of the full dump; a saved dump is read whole once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.envoy.config_dump import ConfigDump
from kubectl_meshdebug.errors import AdminError

RESOURCES = {
    "clusters": ["static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters"],
    "listeners": ["static_listeners", "dynamic_listeners"],
    "routes": ["static_route_configs", "dynamic_route_configs"],
    "endpoints": ["static_endpoint_configs", "dynamic_endpoint_configs"],
    "secrets": ["static_secrets", "dynamic_active_secrets", "dynamic_warming_secrets"],
}


def _fetch(admin: AdminClient, resource: str, include_eds: bool,
           name_regex: str | None = None) -> list[Any]:
    try:
        doc = admin.config_dump(resource=resource, include_eds=include_eds,
                                name_regex=name_regex)
    except AdminError as exc:
        if exc.status == 404:  # nothing of that kind: Envoy says "not found in config dump"
            return []
        if exc.status == 400 and name_regex:
            # Envoy caps name_regex at an RE2 program size of 100: ask for everything
            return _fetch(admin, resource, include_eds, None)
        raise
    return list((doc or {}).get("configs") or [])


def fetch_dump(admin: AdminClient, parts: list[str],
               name_regex: dict[str, str] | None = None) -> ConfigDump:
    """A ConfigDump holding only `parts` (clusters, listeners, routes, endpoints, secrets).

    `name_regex` (per part, an RE2 full match on resource names) lets Envoy return only
    the resources a command needs; an Envoy that ignores it returns everything, which the
    callers filter anyway.
    """
    regex = name_regex or {}
    wanted = [(r, p == "endpoints", regex.get(p)) for p in parts for r in RESOURCES[p]]
    with ThreadPoolExecutor(max_workers=min(6, len(wanted))) as pool:
        chunks = list(pool.map(lambda w: _fetch(admin, w[0], w[1], w[2]), wanted))
    configs = [item for chunk in chunks for item in chunk]
    return ConfigDump.from_json({"configs": configs})
