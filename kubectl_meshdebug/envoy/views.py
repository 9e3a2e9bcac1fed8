"""Fetch only the parts of a proxy's config a command needs, as one ConfigDump.

Live proxies are asked per resource (`/config_dump?resource=...`), which on a large mesh
returns a fraction of the full dump; a saved dump is read whole once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubectl_meshdebug.envoy.admin import AdminClient
from kubectl_meshdebug.envoy.config_dump import ConfigDump
from kubectl_meshdebug.errors import AdminError, BadAnswerError, MeshdebugError
from kubectl_meshdebug.pool import run_all

RESOURCES = {
    "clusters": ["static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters"],
    "listeners": ["static_listeners", "dynamic_listeners"],
    "routes": ["static_route_configs", "dynamic_route_configs"],
    "endpoints": ["static_endpoint_configs", "dynamic_endpoint_configs"],
    "secrets": ["static_secrets", "dynamic_active_secrets", "dynamic_warming_secrets"],
}


def fetch_resource(admin: AdminClient, resource: str, include_eds: bool,
                   name_regex: str | None = None) -> list[Any]:
    """The items of one `?resource=`; none when the proxy has nothing of that kind."""
    try:
        doc = admin.config_dump(resource=resource, include_eds=include_eds,
                                name_regex=name_regex)
    except AdminError as exc:
        if exc.status == 404:  # nothing of that kind: Envoy says "not found in config dump"
            return []
        if exc.status == 400 and name_regex:
            # Envoy caps name_regex at an RE2 program size of 100: ask for everything
            return fetch_resource(admin, resource, include_eds, None)
        raise
    if doc is None or doc == {}:
        return []  # a name_regex that matched nothing
    if not isinstance(doc, dict) or not isinstance(doc.get("configs", []), list):
        raise BadAnswerError(f"/config_dump?resource={resource} from {admin.describe} is not "
                             "a config dump")
    return list(doc.get("configs") or [])


def dump_calls(admin: AdminClient, parts: list[str],
               name_regex: dict[str, str] | None = None) -> list[Callable[[], Any]]:
    """The calls fetch_dump makes, for AdminClient.prefetch by a caller that batches them
    with calls of its own."""
    regex = name_regex or {}
    return [lambda r=r, p=p: fetch_resource(admin, r, p == "endpoints", regex.get(p))
            for p in parts for r in RESOURCES[p]]


def fetch_dump(admin: AdminClient, parts: list[str],
               name_regex: dict[str, str] | None = None) -> ConfigDump:
    """A ConfigDump holding only `parts` (clusters, listeners, routes, endpoints, secrets).

    `name_regex` (per part, an RE2 full match on resource names) lets Envoy return only
    the resources a command needs; an Envoy that ignores it returns everything, which the
    callers filter anyway.
    """
    calls = dump_calls(admin, parts, name_regex)
    admin.prefetch(calls)
    chunks = run_all(calls, lambda call: call(), concurrency=6)
    configs: list[Any] = []
    for chunk in chunks:
        if isinstance(chunk, MeshdebugError):
            raise chunk
        configs.extend(chunk)
    return ConfigDump.from_json({"configs": configs})
