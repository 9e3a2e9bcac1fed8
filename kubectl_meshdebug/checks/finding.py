"""The one shape every diagnosis produces (DESIGN.md), and the types findings are made from.

A FindingType is declared once, in the module of the check that emits it, as istioctl's
messages.yaml declares a message: its id, default severity, title, what it reads (object
kinds and proxy data), and which other findings it can explain. Findings are made by
calling their type, never by repeating an id as a string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")
# What a check may read of a proxy (envoy.proxyview.PROXY_DATA).
PROXY_DATA = ("clusters", "listeners", "routes", "secrets", "statuses", "stats", "ready",
              "log")


@dataclass
class Evidence:
    source: str  # where it was seen: "envoy foo/sleep clusters", "DestinationRule foo/httpbin"
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "detail": self.detail}


@dataclass
class Finding:
    type: FindingType
    severity: str
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    fix: str = ""
    resource: str = ""  # the object the finding is about, "Kind ns/name"
    weight: int = 0  # higher: more directly explains the observed symptom
    explains: list[str] = field(default_factory=list)  # ids of present findings it causes

    @property
    def id(self) -> str:
        return self.type.id

    @property
    def docs(self) -> str:
        return self.type.docs

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "severity": self.severity, "summary": self.summary,
            "resource": self.resource,
            "evidence": [e.to_dict() for e in self.evidence], "fix": self.fix,
            "docs": self.docs, "explain": self.type.explain, "explains": self.explains,
        }


class FindingType:
    """One entry of the catalogue. Call it to make a Finding of this type."""

    def __init__(self, id: str, severity: str, title: str, *, kinds: tuple[str, ...] = (),
                 proxy: tuple[str, ...] = (), explains: tuple[str, ...] = ()) -> None:
        if severity not in SEVERITIES:
            raise ValueError(f"{id}: severity {severity!r}")
        unknown = set(proxy) - set(PROXY_DATA)
        if unknown:
            raise ValueError(f"{id}: unknown proxy data {sorted(unknown)}")
        self.id = id
        self.severity = severity
        self.title = title
        self.kinds = tuple(kinds)
        self.proxy = tuple(proxy)
        self.explains = tuple(explains)

    @property
    def docs(self) -> str:
        return f"docs/checks/{self.id}.md"

    @property
    def peer_codes(self) -> list[str]:
        """The istioctl (ISTnnnn) and Kiali (KIAnnnn) codes of the messages this type
        matches, from the title's closing parenthesis: `... (IST0118, KIA0601)`."""
        found = re.search(r"\(([A-Z0-9, ]+)\)$", self.title)
        return re.findall(r"\b(?:IST|KIA)\d{4}\b", found.group(1)) if found else []

    @property
    def explain(self) -> str:
        """The command that prints the docs page from the pages shipped with the tool."""
        return f"kubectl meshdebug explain {self.id}"

    def __repr__(self) -> str:
        return f"FindingType({self.id!r})"

    def __call__(self, summary: str, evidence: list[Evidence] | None = None, *, fix: str = "",
                 resource: str = "", severity: str | None = None, weight: int = 0) -> Finding:
        return Finding(self, severity or self.severity, summary, list(evidence or []), fix,
                       resource, weight)


def ordered(findings: list[Finding]) -> list[Finding]:
    """Cause before effect, then most severe, then what explains the symptom most directly.

    A finding whose type explains another present finding's id goes before it (when the
    cause is an error or a warning: an info is never the cause of an error). Among the
    findings nothing left explains, the best by (severity, weight) comes next.
    """
    rank = {id(f): (SEVERITIES.index(f.severity), -f.weight, i) for i, f in enumerate(findings)}
    causes: dict[int, set[int]] = {id(f): set() for f in findings}
    for cause in findings:
        if cause.severity == "info":
            continue
        for effect in findings:
            if effect is not cause and effect.id in cause.type.explains and \
                    effect.id != cause.id:
                causes[id(effect)].add(id(cause))
                if effect.id not in cause.explains:
                    cause.explains.append(effect.id)
    out: list[Finding] = []
    left = list(findings)
    while left:
        placed = {id(f) for f in out}
        free = [f for f in left if not (causes[id(f)] - placed)]
        pick = min(free or left, key=lambda f: rank[id(f)])
        out.append(pick)
        left.remove(pick)
    return out
