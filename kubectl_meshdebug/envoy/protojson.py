"""Proto3 JSON as Envoy writes it: old builds wrote camelCase keys, new ones snake_case.

The parsers read snake_case only; `normalize` converts a camelCase document once. It is
applied only to sections that need it, so a 100 MB snake_case dump is not copied.
"""

from __future__ import annotations

import re
from typing import Any

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
# Keys whose children are user data (header names, metadata namespaces), not proto fields.
_OPAQUE = {"filter_metadata", "typed_filter_metadata", "fields"}


def snake(key: str) -> str:
    """A proto field name in snake_case. Keys with a dot are map keys naming an extension
    (`envoy.extensions.upstreams.http.v3.HttpProtocolOptions` in
    typed_extension_protocol_options), never field names: they stay as written."""
    if key.startswith("@") or key.islower() or "." in key:
        return key
    return _CAMEL.sub(r"_\1", key).lower()


def needs_normalizing(doc: Any, depth: int = 3) -> bool:
    """True when a camelCase key appears near the top of the document."""
    if depth < 0:
        return False
    if isinstance(doc, dict):
        for key, value in doc.items():
            if not key.startswith("@") and snake(key) != key:
                return True
            if needs_normalizing(value, depth - 1):
                return True
    elif isinstance(doc, list):
        return any(needs_normalizing(v, depth - 1) for v in doc[:3])
    return False


def normalize(doc: Any) -> Any:
    """Recursively convert camelCase keys to snake_case, leaving opaque maps alone."""
    if isinstance(doc, dict):
        out: dict[str, Any] = {}
        for key, value in doc.items():
            new_key = snake(key)
            out[new_key] = value if new_key in _OPAQUE else normalize(value)
        return out
    if isinstance(doc, list):
        return [normalize(v) for v in doc]
    return doc


def uint(value: Any) -> int | None:
    """Wrapped uint32 values come as ints, strings ("5") or {"value": 5}."""
    if isinstance(value, dict):
        value = value.get("value")
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def duration_seconds(value: Any) -> float | None:
    """A proto Duration as JSON writes it ("15s", "0.250s") or {"seconds", "nanos"};
    None when it is not one."""
    if isinstance(value, dict):
        try:
            return float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
        except (TypeError, ValueError, OverflowError):
            return None
    if isinstance(value, str) and value.endswith("s"):
        number = value[:-1]
        if number and number.isascii() and number.replace(".", "", 1).lstrip("-").isdecimal():
            seconds = float(number)
            return seconds if seconds < 1e12 else None
    return None
