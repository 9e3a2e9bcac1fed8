"""Text from outside shown as data: one line, nothing a terminal or a reader acts on.

A proxy, a log or a manifest can put a newline, a carriage return, a terminal escape or a
bidirectional override into a name. Printed raw, the name writes lines the tool never
wrote ("next: ..." with a command of the attacker's), moves the cursor, or reorders what
the reader sees. Every name that goes into one line of text goes through `one_line`.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, Unicode line/paragraph separators, bidi embeddings/overrides
# and isolates (the "Trojan Source" characters), and the private character the printer
# marks its own colours with (render/output.py), so a name cannot colour or hide text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                     "\U000f0000]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_code(char: str) -> str:
    """One character as its Python escape: \\xNN, \\uNNNN or \\UNNNNNNNN."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or escape_code(char)


def one_line(value: object) -> str:
    """`value` as text on one line: every control and reordering character escaped."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text)
