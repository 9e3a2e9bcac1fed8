"""Keep private key material out of every output and saved file.

Envoy already redacts SDS private keys in /config_dump (`W3JlZGFjdGVkXQ==`, base64 of
`[redacted]`), but static secrets, old builds and hand-edited dumps may carry inline keys.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED_B64 = "W3JlZGFjdGVkXQ=="
_SECRET_KEYS = {"private_key", "password", "session_ticket_keys", "privateKey", "keys"}
_PEM_KEY = re.compile(
    r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S
)


def _scrub_datasource(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            if key in ("inline_bytes", "inlineBytes"):
                out[key] = REDACTED_B64
            elif key in ("inline_string", "inlineString"):
                out[key] = "[redacted]"
            else:
                out[key] = _scrub_datasource(inner)
        return out
    if isinstance(value, list):
        return [_scrub_datasource(v) for v in value]
    return value


def redact(doc: Any) -> Any:
    """A copy of a JSON document with secret data sources and PEM keys replaced."""
    if isinstance(doc, dict):
        return {
            key: _scrub_datasource(value) if key in _SECRET_KEYS else redact(value)
            for key, value in doc.items()
        }
    if isinstance(doc, list):
        return [redact(v) for v in doc]
    if isinstance(doc, str) and "PRIVATE KEY-----" in doc:
        return _PEM_KEY.sub("[redacted private key]", doc)
    return doc
