"""Findings for people: the one that explains the symptom first, evidence, then the fix."""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.finding import Finding
from kubectl_meshdebug.render.output import Printer
from kubectl_meshdebug.text import one_line

_COLORS = {"error": "red", "warning": "yellow", "info": "cyan"}


def verdict(printer: Printer, findings: list[Finding], *, title: str, unread: int = 0,
            none_found: str = "No problems found.") -> str:
    """The answer in one line: the finding that explains the rest (findings come ordered
    cause first), or that none was found, and in what could be read."""
    title = one_line(title)
    if not findings and unread:
        return (printer.style("No problems found in what could be read", "yellow", bold=True)
                + f" ({unread} reads failed, see below): {title}")
    if not findings:
        return printer.style(none_found, "green", bold=True) + f" {title}"
    first = findings[0]
    if first.severity == "info":  # nothing wrong shown: a remark, not a cause
        return (printer.style(none_found, "green", bold=True) + f" {title}; see "
                + ", ".join(f"[{f.id}]" for f in findings[:3]) + " below")
    label = printer.style(first.severity.upper(), _COLORS[first.severity], bold=True)
    more = len(findings) - 1
    rest = f"; {more} more finding{'s' if more != 1 else ''} below" if more else ""
    return f"{label} [{first.id}] {one_line(first.type.title)} ({title}{rest})"


def print_findings(printer: Printer, findings: list[Finding], *, title: str,
                   checked: list[str], wide: bool = False, unread: int = 0,
                   none_found: str = "No problems found.", headline: bool = True) -> None:
    """Findings cause first; with none, "No problems found", or when `unread` proxies could
    not be read, that nothing was found in what could be. Summaries, evidence and the
    title are one line each whatever the names in them hold; a fix keeps its own line
    breaks (YAML snippets), and the checks put names into fixes through one_line.
    `headline=False` when the caller printed the verdict line already (why-503)."""
    title = one_line(title)
    if not findings:
        if headline:
            printer.line(verdict(printer, findings, title=title, unread=unread,
                                 none_found=none_found))
        printer.line("Checked: " + ", ".join(checked))
        return
    if headline:
        printer.line(title)
    for index, finding in enumerate(findings, 1):
        label = printer.style(finding.severity.upper(), _COLORS[finding.severity], bold=True)
        if headline or index > 1:
            printer.line("")
        printer.line(f"{index}. {label} [{finding.id}] {one_line(finding.summary)}")
        if finding.explains:
            printer.line(f"   explains: {', '.join(finding.explains)} (fix this first: they "
                         "follow from it)")
        for ev in finding.evidence:
            printer.line(f"   - {one_line(ev.source)}: {one_line(ev.detail)}")
        if finding.fix:
            fix_lines = finding.fix.splitlines()
            printer.line(f"   fix: {fix_lines[0]}")
            for line in fix_lines[1:]:
                printer.line(f"        {line}")
        printer.line(f"   docs: {finding.type.explain}")
    printer.line("")
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    printer.line(", ".join(f"{n} {sev}{'s' if n != 1 else ''}" for sev, n in counts.items()))
    if wide:
        printer.line("Checked: " + ", ".join(checked))


def findings_document(target: Any, checked: list[str], findings: list[Finding]) -> dict:
    return {"target": target, "checked": checked, "findings": [f.to_dict() for f in findings]}
