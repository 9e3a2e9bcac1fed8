"""What istiod would send a proxy now against what the proxy holds, resource by resource.

Both sides are config dumps: istiod's /debug/config_dump?proxyID= (generated for the
proxy as it is connected) and the proxy's own /config_dump. Resources are keyed by type
and name; their content is compared with the bookkeeping left out (versions, update
times) and field names in one spelling (istiod writes JSON names in camelCase, Envoy
in snake_case).
"""

from __future__ import annotations

from typing import Any

# config dump section -> (type, list key, where the resource sits in an entry)
SECTIONS = {
    "ClustersConfigDump": ("cds", ("dynamicactiveclusters",), ("cluster",)),
    "ListenersConfigDump": ("lds", ("dynamiclisteners",), ("activestate", "listener")),
    "RoutesConfigDump": ("rds", ("dynamicrouteconfigs",), ("routeconfig",)),
}
BOOKKEEPING = {"versioninfo", "lastupdated", "@type"}
MAX_DEPTH = 200


def folded(key: str) -> str:
    """One spelling for a protobuf field's JSON name and its proto name:
    `proxy100Continue` and `proxy_100_continue` are both `proxy100continue`."""
    return key if key == "@type" else key.replace("_", "").lower()


def snake(value: Any, depth: int = 0) -> Any:
    """Field names folded to one spelling, all the way down (values untouched)."""
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {folded(k): snake(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v, depth + 1) for v in value]
    return value


def resources(dump: Any) -> dict[tuple[str, str], Any]:
    """(type, name) -> resource, from the dynamic sections of a config dump."""
    out: dict[tuple[str, str], Any] = {}
    configs = dump.get("configs") if isinstance(dump, dict) else None
    for config in configs if isinstance(configs, list) else []:
        if not isinstance(config, dict):
            continue
        kind = str(config.get("@type", "")).rsplit(".", 1)[-1]
        if kind not in SECTIONS:
            continue
        short, list_path, item_path = SECTIONS[kind]
        doc = snake(config)
        entries = doc.get(list_path[0])
        for entry in entries if isinstance(entries, list) else []:
            resource = entry
            for key in item_path:
                resource = resource.get(key) if isinstance(resource, dict) else None
            if isinstance(resource, dict) and isinstance(resource.get("name"), str):
                out[(short, resource["name"])] = {
                    k: v for k, v in resource.items() if k not in BOOKKEEPING}
    return out


def diff_dumps(wanted: Any, held: Any) -> list[dict[str, str]]:
    """Rows of type, name, change: `not on the proxy`, `only on the proxy`, `differs`."""
    want, have = resources(wanted), resources(held)
    rows = []
    for key in sorted(set(want) | set(have)):
        if key not in have:
            change = "not on the proxy"
        elif key not in want:
            change = "only on the proxy"
        elif want[key] != have[key]:
            change = "differs"
        else:
            continue
        rows.append({"type": key[0], "name": key[1], "change": change})
    return rows
