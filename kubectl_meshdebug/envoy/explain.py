"""Access-log entries in words: flags spelled out, details and transport failure decoded."""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.envoy.accesslog import AccessLogEntry
from kubectl_meshdebug.envoy.denials import find_denial
from kubectl_meshdebug.envoy.flags import FLAGS, failure_meaning

# Details that say more than the flag itself, so they are spelled out even with flags.
DECISIVE = ("protocol_error", "Connection_refused", "HTTP_REQUEST", "cluster_not_found",
            "CERTIFICATE_VERIFY_FAILED", "SSLV3_ALERT_HANDSHAKE_FAILURE", "WRONG_VERSION_NUMBER",
            "TLSV1_ALERT_UNKNOWN_CA")


def explain_entry(entry: AccessLogEntry) -> dict[str, Any]:
    words = []
    for code in entry.flags:
        flag = FLAGS.get(code)
        words.append(f"{code} = {flag.name}: {flag.meaning}" if flag else f"{code}: unknown flag")
    denial = find_denial(f"{entry.details} {entry.termination}")
    if denial is not None:  # a 403/401 the mesh made on purpose: no flag, only the detail
        words.append(denial.words())
        return {"explanation": "; ".join(words), "detail": f"denied:{denial.filter}",
                "denied_by": denial.policy_ref}
    needle, meaning = failure_meaning(f"{entry.details} {entry.transport_failure}")
    if meaning and (not entry.flags or needle in DECISIVE):
        words.append(meaning)
    return {"explanation": "; ".join(words) or ("ok" if entry.status < 400 else ""),
            "detail": needle, "denied_by": ""}


def status_matches(entry: AccessLogEntry, wanted: str) -> bool:
    """`5xx`, `503`, `4xx,5xx`."""
    for part in wanted.split(","):
        part = part.strip().lower()
        if part.endswith("xx") and part[:1].isdecimal():
            if str(entry.status).startswith(part[0]):
                return True
        elif part.isascii() and part.isdigit() and len(part) <= 3 and int(part) == entry.status:
            return True
    return False
