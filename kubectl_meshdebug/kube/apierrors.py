"""Translate the kubernetes client's exceptions into one-line errors that name the fix."""

from __future__ import annotations

import json
from typing import Any

from kubectl_meshdebug.errors import MeshdebugError, UnreachableError, UsageError
from kubectl_meshdebug.text import one_line


def _reason(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message", "")).strip()
        except (ValueError, AttributeError):
            return str(body).strip()[:200]
    return str(getattr(exc, "reason", "") or "").strip()


def translate_api_error(
    exc: Any, *, verb: str, resource: str, namespace: str | None = None, name: str = ""
) -> MeshdebugError:
    """Map an ApiException to our error: 401/403 name the credential or RBAC fix."""
    status = getattr(exc, "status", None)
    where = f" in namespace {namespace}" if namespace else " cluster-wide"
    what = f"{resource}/{name}" if name else resource
    if status == 401:
        return UnreachableError(
            "the API server rejected your credentials (401 Unauthorized)",
            hint="refresh your kubeconfig login (e.g. re-run your cloud CLI's get-credentials)",
        )
    if status == 403:
        return UnreachableError(
            f"forbidden: you may not {verb} {resource}{where}",
            hint=f"ask for RBAC verb '{verb}' on '{resource}'{where} "
            "(see docs/rbac.md for a ready ClusterRole)",
            detail=_reason(exc),
        )
    if status == 404:
        return UsageError(f"{what} not found{where}", detail=_reason(exc))
    if status is None or status == 0:
        return UnreachableError(
            f"cannot reach the API server: {_reason(exc) or exc}",
            hint="check --context/--kubeconfig and your network",
        )
    if status in (429, 503):
        return UnreachableError(
            f"the API server is too busy to {verb} {what}{where} ({status}, still asking to "
            "wait when --request-timeout ran out)",
            hint="try again shortly, or raise --request-timeout", detail=_reason(exc))
    reason = _reason(exc)
    return UnreachableError(
        f"the API server answered {status} to {verb} {what}{where}"
        + (f": {one_line(reason)[:300]}" if reason else "")
    )
