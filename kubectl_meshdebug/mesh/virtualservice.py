"""A VirtualService's destinations, and where it applies (exportTo, gateways)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Obj = dict[str, Any]
MESH_GATEWAY = "mesh"


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def destinations(vs: Obj) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, destination) for every route destination and mirror of a VirtualService."""
    spec = vs.get("spec") if isinstance(vs.get("spec"), dict) else {}
    for kind in ("http", "tcp", "tls"):
        for i, route in enumerate(_dicts(spec.get(kind))):
            for j, dest in enumerate(_dicts(route.get("route"))):
                if isinstance(dest.get("destination"), dict):
                    yield f"spec.{kind}[{i}].route[{j}]", dest["destination"]
            if isinstance(route.get("mirror"), dict):
                yield f"spec.{kind}[{i}].mirror", route["mirror"]
            for j, mirror in enumerate(_dicts(route.get("mirrors"))):
                if isinstance(mirror.get("destination"), dict):
                    yield f"spec.{kind}[{i}].mirrors[{j}]", mirror["destination"]


def weights(vs: Obj) -> dict[str, Any]:
    """`spec.http[0].route[1]` -> its weight."""
    spec = vs.get("spec") if isinstance(vs.get("spec"), dict) else {}
    out = {}
    for kind in ("http", "tcp", "tls"):
        for i, route in enumerate(_dicts(spec.get(kind))):
            for j, dest in enumerate(_dicts(route.get("route"))):
                out[f"spec.{kind}[{i}].route[{j}]"] = dest.get("weight")
    return out


def gateways(vs: Obj) -> list[str]:
    spec = vs.get("spec") if isinstance(vs.get("spec"), dict) else {}
    value = spec.get("gateways")
    return [str(g) for g in value] if isinstance(value, list) else []


def applies_to_sidecars(vs: Obj) -> bool:
    """Sidecars take a VirtualService with no gateways, or one listing `mesh`."""
    names = gateways(vs)
    return not names or MESH_GATEWAY in names


def vs_namespaces(vs: Obj) -> list[str]:
    """Where the VirtualService applies: its exportTo namespaces, else its own."""
    own = str(((vs.get("metadata") or {}).get("namespace")) or "")
    spec = vs.get("spec") if isinstance(vs.get("spec"), dict) else {}
    export = spec.get("exportTo") if isinstance(spec.get("exportTo"), list) else []
    out = [own if str(entry) in (".", "*") else str(entry) for entry in export]
    return sorted(set(out)) or [own]
