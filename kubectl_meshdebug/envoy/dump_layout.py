"""Where each top-level section of a saved config dump starts and ends, without parsing.

A 20,000-service dump is mostly clusters, routes and endpoints; `routes` needs none of
the clusters, `clusters` none of the routes. Finding the sections lets a command parse
only its own, whatever the file's formatting: Envoy's one-space indentation, a
minified copy (`jq -c`), or any other whitespace.

A section starts where `{"@type": "type.googleapis.com/envoy.admin.v3.XConfigDump"` follows
`[` or `,`. Quotes inside a JSON string are always escaped, so that text can only be
structure, never a string's content; it could still be a nested object's first key,
but then the spans no longer parse on their own: every span a command parses must be
one whole JSON object, so a span cut at a false start fails and the caller parses the
whole document instead. The spans must also tile the document exactly
(`{"configs": [` span `,` span ... `]}`) and name each known section type at most once
(as Envoy writes them), or no layout is returned. What remains possible is a crafted
file hiding, inside another section's data, a section of a kind the dump lacks, followed
directly by another: the split then shows that data, which the file does hold.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# The type URL is searched for as a literal (fast: sections are few, brackets are not);
# what must come before it is checked on a short window.
_TYPE_URL = re.compile(rb'type\.googleapis\.com/envoy\.admin\.v[0-9a-z]+\.([A-Za-z]+ConfigDump)"')
_OPENING = re.compile(rb'([\[,])\s*\{\s*"@type"\s*:\s*"\Z')
_OPENING_WINDOW = 256  # bytes before a type URL where its section's opening must be
_HEAD = re.compile(rb'\s*\{\s*"configs"\s*:\s*')
_TAIL = re.compile(rb'\]\s*\}\s*\Z')
_TAIL_WINDOW = 64  # bytes at the end searched for the closing `]}`


def section_spans(raw: bytes, known: Collection[str]) -> list[tuple[str, int, int]] | None:
    """(type name, start, end) of each section, in order, or None when the document is
    not laid out as `{"configs": [section, ...]}` with each section's @type first and
    every type one of KNOWN."""
    starts = []  # (separator, separator offset, type name)
    for url in _TYPE_URL.finditer(raw):
        opening = _OPENING.search(raw, max(0, url.start() - _OPENING_WINDOW), url.start())
        if opening is None:
            return None  # the type named somewhere unexpected: trust only the full parse
        starts.append((opening.group(1), opening.start(1), url.group(1).decode()))
    if not starts or starts[0][0] != b"[":
        return None
    head = _HEAD.match(raw)
    if head is None or head.end() != starts[0][1]:
        return None
    tail = _TAIL.search(raw, max(starts[-1][1], len(raw) - _TAIL_WINDOW))
    if tail is None:
        return None  # cut short (a copy that stopped, `head -c`): the full parse says so
    names = [type_name for _, _, type_name in starts]
    if len(set(names)) != len(names) or not set(names) <= set(known):
        return None
    spans = []
    for i, (separator, offset, type_name) in enumerate(starts):
        if i and separator != b",":
            return None
        end = starts[i + 1][1] if i + 1 < len(starts) else tail.start()
        spans.append((type_name, offset + 1, end))
    return spans


def span_text(raw: bytes, begin: int, end: int) -> str:
    """One span as text, decoded straight from RAW (no intermediate bytes copy)."""
    with memoryview(raw) as view:
        return str(view[begin:end], "utf-8")
