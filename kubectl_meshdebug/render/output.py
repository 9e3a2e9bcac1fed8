"""One printer for every command, chosen by -o, as kubectl's printers are.

`-o json` and `-o yaml` print `{"kind": KIND, "items": [...]}` (or the command's own
documented object); `table` and `wide` print kubectl-style plain columns.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, TextIO

from kubectl_meshdebug.render.formats import OUTPUTS  # noqa: F401  (re-exported)

LONG_LISTING = 500  # items; above it -o json writes one item per line


class Column:
    """One table column (plain classes here: dataclasses cost every command's start-up)."""

    def __init__(self, key: str, header: str, wide: bool = False,
                 fmt: Callable[[Any], str] | None = None) -> None:
        self.key, self.header, self.wide, self.fmt = key, header, wide, fmt


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
        self.out.write(text + "\n")

    def note(self, text: str) -> None:
        """A remark on stderr that must not disturb -o json on stdout."""
        self.err.write(text + "\n")
        self.err.flush()

    def style(self, text: str, color: str, bold: bool = False) -> str:
        if not self.color:
            return text
        import click

        return click.style(text, fg=color, bold=bold)

    # structured ------------------------------------------------------------------
    def document(self, doc: Any) -> None:
        import json

        if self.output == "yaml":
            import yaml

            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            self.out.write(yaml.dump(doc, Dumper=dumper, sort_keys=False,
                                     default_flow_style=False))
        elif isinstance(doc, dict) and len(doc.get("items") or ()) > LONG_LISTING:
            self._long_json(doc)
        else:
            self.out.write(json.dumps(doc, indent=2, default=str))
            self.out.write("\n")

    def _long_json(self, doc: dict[str, Any]) -> None:
        """One item per line: the same JSON, written by the C encoder (indentation makes
        Python's json fall back to its pure-Python encoder, several times slower)."""
        import json

        write = self.out.write
        write("{\n")
        for key, value in doc.items():
            if key != "items":
                write(f"  {json.dumps(key)}: {json.dumps(value, default=str)},\n")
        write('  "items": [\n')
        items = doc["items"]
        last = len(items) - 1
        for i, item in enumerate(items):
            write("    " + json.dumps(item, default=str) + (",\n" if i < last else "\n"))
        write("  ]\n}\n")

    def listing(self, listing: Listing) -> None:
        if self.output in ("json", "yaml"):
            self.document({"kind": listing.kind, "items": listing.items})
        else:
            self.table(listing.items, listing.columns, wide=self.output == "wide")
        for note in listing.notes:
            self.note(note)

    def table(self, items: list[dict[str, Any]], columns: list[Column], wide: bool = False) -> None:
        from tabulate import tabulate

        shown = [c for c in columns if wide or not c.wide]
        rows = [[_cell(item.get(c.key), c.fmt) for c in shown] for item in items]
        if not rows:
            self.note("No resources found.")
            return
        text = tabulate(rows, headers=[c.header for c in shown], tablefmt="plain",
                        disable_numparse=True)
        self.out.write(text + "\n")


def _cell(value: Any, fmt: Callable[[Any], str] | None) -> str:
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
