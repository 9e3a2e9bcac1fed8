"""The one shape every diagnosis produces (DESIGN.md): id, severity, summary, evidence, fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")


@dataclass
class Evidence:
    source: str  # where it was seen: "envoy foo/sleep clusters", "DestinationRule foo/httpbin"
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "detail": self.detail}


@dataclass
class Finding:
    id: str
    severity: str
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    fix: str = ""
    resource: str = ""  # the object the finding is about, "Kind ns/name"
    explains: int = 0  # higher: more directly explains the observed symptom

    @property
    def docs(self) -> str:
        return f"docs/checks/{self.id}.md"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "severity": self.severity, "summary": self.summary,
            "resource": self.resource,
            "evidence": [e.to_dict() for e in self.evidence], "fix": self.fix,
            "docs": self.docs,
        }


def ordered(findings: list[Finding]) -> list[Finding]:
    """Most severe first; within a severity, what explains the symptom most directly."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), -f.explains))
