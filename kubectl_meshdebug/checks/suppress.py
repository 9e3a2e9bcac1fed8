"""Known findings set aside, as istioctl analyze does: `--suppress CODE[=KIND NAME]` and the
`galley.istio.io/analyze-suppress` annotation on the object a finding is about.

CODE is a finding id (`subset-no-pods`) or the Istio analyzer code its type carries
(`IST0173`); `*` is any. KIND NAME names the object as kubectl or istioctl would:
`DestinationRule foo/reviews`, `DestinationRule reviews.foo`, with `*` wildcards.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from kubectl_meshdebug.checks.finding import Finding
from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.kube.state import meta

ANNOTATION = "galley.istio.io/analyze-suppress"


def codes_of(finding: Finding) -> set[str]:
    """The names a suppression may give a finding: its id and its istioctl or Kiali
    codes, if any."""
    return {finding.id} | set(finding.type.peer_codes)


def _object_of(finding: Finding) -> tuple[str, str, str, str]:
    """(kind, ns/name as written, namespace, name) of the object a finding is about."""
    kind, _, ns_name = finding.resource.partition(" ")
    namespace, _, name = ns_name.rpartition("/")
    return kind, ns_name, namespace, name


class Suppression:
    def __init__(self, spec: str) -> None:
        code, sep, target = spec.partition("=")
        self.code = code.strip()
        if not self.code or len(spec) > 512:
            raise UsageError(f"--suppress {spec!r}: give CODE or CODE=KIND NAME",
                             hint="e.g. --suppress IST0173 or --suppress "
                                  "'subset-no-pods=DestinationRule foo/reviews'")
        self.kind, self.name = "*", "*"
        if sep:
            kind, _, name = target.strip().partition(" ")
            if not kind or not name.strip():
                raise UsageError(f"--suppress {spec!r}: after = give KIND NAME",
                                 hint="e.g. 'DestinationRule foo/reviews' or "
                                      "'DestinationRule reviews.foo'")
            self.kind, self.name = kind, name.strip()

    def matches(self, finding: Finding) -> bool:
        if not any(fnmatch.fnmatchcase(c, self.code) for c in codes_of(finding)):
            return False
        if (self.kind, self.name) == ("*", "*"):
            return True
        kind, ns_name, namespace, name = _object_of(finding)
        forms = {ns_name, f"{name}.{namespace}" if namespace else name, name}
        return fnmatch.fnmatchcase(kind, self.kind) and any(
            fnmatch.fnmatchcase(f, self.name) for f in forms)


def annotated(finding: Finding, state: Any) -> bool:
    """The object the finding is about says to suppress it (comma-separated codes)."""
    kind, _, namespace, name = _object_of(finding)
    if not kind or not name or state is None:
        return False
    try:
        obj = state.get(kind, namespace or None, name)
    except (KeyError, UsageError):  # a kind the state does not read
        return False
    value = (meta(obj).get("annotations") or {}).get(ANNOTATION) if obj else None
    if not isinstance(value, str):
        return False
    wanted = {c.strip() for c in value[:1024].split(",") if c.strip()}
    return any(fnmatch.fnmatchcase(c, w) for c in codes_of(finding) for w in wanted)


def apply(findings: list[Finding], rules: list[Suppression],
          state: Any) -> tuple[list[Finding], int]:
    """(the findings kept, how many were suppressed)."""
    kept = [f for f in findings
            if not any(r.matches(f) for r in rules) and not annotated(f, state)]
    return kept, len(findings) - len(kept)
