"""One printer for every command, chosen by -o, as kubectl's printers are.

`-o json` and `-o yaml` print `{"kind": KIND, "items": [...]}` (or the command's own
documented object); `table` and `wide` print kubectl-style plain columns.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from kubectl_meshdebug.render.formats import OUTPUTS  # noqa: F401  (re-exported)
from kubectl_meshdebug.text import escape_code, one_line

LONG_LISTING = 500  # items; above it -o json writes one item per line

# Our own colours travel as MARK code MARK until the line is written, so that every
# control character that came from a proxy, a log or a file can be shown escaped.
_MARK = "\U000f0000"
_STYLED = re.compile(_MARK + r"((?:1;)?3[1-6]|0)" + _MARK)  # only the codes style() makes
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_COLORS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35",
           "cyan": "36"}


def escape_controls(text: str) -> str:
    """Control characters (terminal escapes, window-title changes, screen clears) shown
    as \\xNN instead of acting on the terminal; newlines and tabs kept."""
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    return escape_code(match.group(0))


def _escape_line(match: re.Match[str]) -> str:
    return "\\n" if match.group(0) == "\n" else _escape_one(match)


_LINE_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                           "\u2066-\u2069]")


def terminal_line(text: str, color: bool) -> str:
    """One line of output: a newline inside it (from a name) is shown as \\n, so no value
    can start a line of its own that the reader takes for the tool's."""
    return _styled(_LINE_CONTROL.sub(_escape_line, text), color)


def terminal_text(text: str, color: bool) -> str:
    return _styled(escape_controls(text), color)


def _styled(text: str, color: bool) -> str:
    if color:
        return _STYLED.sub(lambda m: f"\x1b[{m.group(1)}m", text)
    return _STYLED.sub("", text)


class Column:
    """One table column (plain classes here: dataclasses cost every command's start-up).

    The cell shows `row[key]`, or `value(row)` when a column is made from several fields;
    `fmt` turns the value into words. The row itself (the -o json item) stays data."""

    def __init__(self, key: str, header: str, wide: bool = False,
                 fmt: Callable[[Any], str] | None = None,
                 value: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.key, self.header, self.wide, self.fmt = key, header, wide, fmt
        self.value = value

    def cell(self, row: dict[str, Any]) -> str:
        value = self.value(row) if self.value else row.get(self.key)
        if self.fmt is None and type(value) is str and value:
            return one_line(value)  # most cells: no formatting to choose
        return _cell(value, self.fmt)


class Listing:
    """Rows of one kind: what list-style commands hand to the printer."""

    def __init__(self, kind: str, items: list[dict[str, Any]], columns: list[Column],
                 notes: list[str] | None = None) -> None:
        self.kind, self.items, self.columns = kind, items, columns
        self.notes = list(notes or [])


class Printer:
    def __init__(self, output: str = "table", color: bool | None = None,
                 out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.output = output
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        if color is None:
            color = not os.environ.get("NO_COLOR") and self.out.isatty()
        self.color = color

    # plain text ------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        self.out.write(terminal_line(text, self.color) + "\n")

    def raw(self, text: str) -> None:
        """Text a program reads (Prometheus exposition, Envoy's own text): only the
        terminal-changing characters are escaped."""
        self.out.write(escape_controls(text).replace(_MARK, "\\U000f0000"))

    def note(self, text: str) -> None:
        """A remark on stderr that must not disturb -o json on stdout. A stderr that is
        gone (closed terminal after SIGHUP) loses the remark, never the work after it."""
        try:
            self.err.write(terminal_line(text, False) + "\n")
            self.err.flush()
        except (OSError, ValueError):
            pass

    def style(self, text: str, color: str, bold: bool = False) -> str:
        code = ("1;" if bold else "") + _COLORS.get(color, "0")
        return f"{_MARK}{code}{_MARK}{text}{_MARK}0{_MARK}"

    # structured ------------------------------------------------------------------
    def document(self, doc: Any) -> None:
        import json

        if self.output == "yaml":
            import yaml

            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            # No folding of long strings: a folded name continues on a line of its own
            # that reads like one the tool wrote (and grep misses it).
            self.out.write(yaml.dump(doc, Dumper=dumper, sort_keys=False,
                                     default_flow_style=False, width=1 << 30))
        elif isinstance(doc, dict) and len(doc.get("items") or ()) > LONG_LISTING:
            write_json(self.out.write, doc, flat_depth=2)
            self.out.write("\n")
        elif resource_count(doc) > LONG_LISTING:
            write_json(self.out.write, doc, flat_depth=4)
            self.out.write("\n")
        else:
            self.out.write(json.dumps(doc, indent=2, default=str))
            self.out.write("\n")

    def listing(self, listing: Listing) -> None:
        if self.output in ("json", "yaml"):
            self.document({"kind": listing.kind, "items": listing.items})
        else:
            self.table(listing.items, listing.columns, wide=self.output == "wide")
        for note in listing.notes:
            self.note(note)

    def table(self, items: list[dict[str, Any]], columns: list[Column], wide: bool = False) -> None:
        shown = [c for c in columns if wide or not c.wide]
        rows = [[c.cell(item) for c in shown] for item in items]
        if not rows:
            self.note("No resources found.")
            return
        headers = [c.header for c in shown]
        if len(rows) > LONG_LISTING:
            from kubectl_meshdebug.render.columns import plain_table

            text = plain_table(headers, rows)  # tabulate's bytes, without its type inference
        else:
            from tabulate import tabulate

            text = tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True)
        self.out.write(terminal_text(text, self.color) + "\n")


def _cell(value: Any, fmt: Callable[[Any], str] | None) -> str:
    """A cell is one line whatever the value holds (a newline would forge a row)."""
    return one_line(_cell_text(value, fmt))


def _cell_text(value: Any, fmt: Callable[[Any], str] | None) -> str:
    if fmt is not None:
        return fmt(value)
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


def resource_count(doc: Any) -> int:
    """Resources in a config dump (`{"configs": [{"...": [resources]}]}`), else 0."""
    configs = doc.get("configs") if isinstance(doc, dict) else None
    if not isinstance(configs, list):
        return 0
    return sum(len(v) for c in configs if isinstance(c, dict) for v in c.values()
               if isinstance(v, list))


def write_json(write: Callable[[str], Any], node: Any, flat_depth: int, depth: int = 0) -> None:
    """The same JSON as json.dumps(indent=2) down to `flat_depth`; below it each value on
    one line from the C encoder. Indentation makes Python's json fall back to its
    pure-Python encoder, several times slower: a 146 MB config dump took 4.8 s to print.
    Big listings come out one item (one Envoy resource) per line, which grep likes too."""
    import json

    if depth >= flat_depth or not isinstance(node, (dict, list)) or not node:
        write(json.dumps(node, default=str))
        return
    pad = "  " * depth
    pairs = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
    write("{\n" if isinstance(node, dict) else "[\n")
    last = len(pairs) - 1
    for i, (key, value) in enumerate(pairs):
        write(pad + "  ")
        if isinstance(node, dict):
            write(json.dumps(str(key)) + ": ")
        write_json(write, value, flat_depth, depth + 1)
        write(",\n" if i < last else "\n")
    write(pad + ("}" if isinstance(node, dict) else "]"))


def json_text(doc: Any) -> str:
    """A document as Printer.document writes it for -o json (files written by --save)."""
    import io
    import json

    if resource_count(doc) <= LONG_LISTING:
        return json.dumps(doc, indent=2, default=str) + "\n"
    buffer = io.StringIO()
    write_json(buffer.write, doc, flat_depth=4)
    buffer.write("\n")
    return buffer.getvalue()
