"""Quoting for the two graph languages meshdebug writes: Graphviz dot and Mermaid."""

from __future__ import annotations


def dot_quote(text: str) -> str:
    """A dot string literal (names carry `|`, quotes and backslashes from the proxies)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def mermaid_text(text: str) -> str:
    """Mermaid labels in double quotes take HTML entities for the characters it parses."""
    for raw, entity in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"),
                        ("|", "#124;")):
        text = text.replace(raw, entity)
    return text
