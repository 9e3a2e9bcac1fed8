"""Quoting for the two graph languages meshdebug writes: Graphviz dot and Mermaid.

Labels carry names a proxy chose, so each encoder keeps a label inside its string whatever
it holds: no newline to end the statement, no quote to close the string, no Mermaid
directive (`%%{init: ...}%%` is found anywhere in the text), comment, entity or markdown
(backtick) syntax, no dot escape (`\\N`, `\\G`) and nothing longer than LABEL_MAX (Graphviz
refuses strings past 16 KiB; a label that long shows nothing useful either way).
"""

from __future__ import annotations

from kubectl_meshdebug.text import one_line

LABEL_MAX = 256  # characters of a name shown in one node or edge label

_MERMAID_ENTITIES = str.maketrans({
    "#": "#35;", "&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "|": "#124;",
    "%": "#37;", "`": "#96;", "\\": "#92;", "{": "#123;", "}": "#125;",
})


def _bounded(text: str) -> str:
    """One line, at most LABEL_MAX characters (the cut marked with an ellipsis)."""
    text = one_line(text)
    return text if len(text) <= LABEL_MAX else text[:LABEL_MAX - 1] + "…"


def dot_quote(text: str) -> str:
    """A dot string literal: backslashes and quotes escaped, so nothing ends the string
    early and no Graphviz escape (\\N the node name, \\l a line break) is interpreted."""
    return '"' + _bounded(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def mermaid_text(text: str) -> str:
    """Text for a double-quoted Mermaid label: every character Mermaid parses inside one
    (entity `#`, directive `%`, markdown backtick, quote, pipe, brackets) as an entity."""
    return _bounded(text).translate(_MERMAID_ENTITIES)
