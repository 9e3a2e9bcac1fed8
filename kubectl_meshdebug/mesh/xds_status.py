"""What istiod says it sent each proxy, and whether the proxy acknowledged it.

istiod's /debug/syncz (what `istioctl proxy-status` reads) lists every connected proxy
with, per xDS type, the nonce of the last push and of the last ACK, and the error of the
last NACK. Istio's nonce is the push version followed by a UUID, so the version istiod
sent is the nonce without its last 36 characters; Envoy's own `version_text` for CDS/LDS
is that version once accepted.

The words follow istioctl: SYNCED (the last push was acknowledged), STALE (sent, not yet
acknowledged), NOT SENT (istiod has sent nothing of that type), plus NACK (the proxy
rejected the last push; istiod's message says why), which istioctl shows as ERROR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# xDS types as the tool names them, with syncz's field prefix and type URL
TYPES = {"cds": ("cluster", "type.googleapis.com/envoy.config.cluster.v3.Cluster"),
         "lds": ("listener", "type.googleapis.com/envoy.config.listener.v3.Listener"),
         "eds": ("endpoint",
                 "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"),
         "rds": ("route", "type.googleapis.com/envoy.config.route.v3.RouteConfiguration")}
UUID_LENGTH = 36
_UUID_TAIL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_TEXT = 300  # istiod's error messages quote the rejected config: keep a line of it


@dataclass(frozen=True)
class TypeSync:
    status: str  # SYNCED | STALE | NOT SENT | NACK
    sent_version: str
    error: str = ""


@dataclass(frozen=True)
class ProxySync:
    proxy: str  # NAME.NAMESPACE, as istiod names it
    istio_version: str
    types: dict[str, TypeSync]

    @property
    def verdict(self) -> str:
        """The worst of the types: NACK, STALE, NOT SENT, else SYNCED."""
        statuses = {t.status for t in self.types.values()}
        for word in ("NACK", "STALE", "NOT SENT"):
            if word in statuses and (word != "NOT SENT" or statuses == {"NOT SENT"}):
                return word
        return "SYNCED"


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def version_of(nonce: str) -> str:
    """The push version inside an Istio nonce (version + UUID)."""
    if _UUID_TAIL.search(nonce) and len(nonce) > UUID_LENGTH:
        return nonce[:-UUID_LENGTH]
    return nonce


def parse_syncz(data: Any) -> dict[str, ProxySync]:
    """istiod's /debug/syncz answer, keyed by proxy id; entries of the wrong shape are
    left out (the answer is data from outside)."""
    out: dict[str, ProxySync] = {}
    if not isinstance(data, list):
        return out
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("proxy"), str):
            continue
        resources = entry.get("resources") if isinstance(entry.get("resources"), dict) else {}
        types = {}
        for short, (prefix, url) in TYPES.items():
            sent, acked = _text(entry.get(f"{prefix}_sent")), _text(entry.get(f"{prefix}_acked"))
            detail = resources.get(url) if isinstance(resources.get(url), dict) else {}
            error = _text(detail.get("lastError")).strip()
            if not sent:
                status = "NOT SENT"
            elif error and acked != sent:
                status = "NACK"
            elif acked == sent:
                status = "SYNCED"
            else:
                status = "STALE"
            types[short] = TypeSync(status, version_of(sent), error.splitlines()[0] if error
                                    else "")
        proxy = entry["proxy"][:MAX_TEXT]
        out[proxy] = ProxySync(proxy, _text(entry.get("istio_version")), types)
    return out
