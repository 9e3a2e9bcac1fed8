"""Long tables written straight from their string cells.

tabulate writes the tables, but before it writes a cell it infers the cell's type and
formats it, column by column, several passes per cell: for `clusters` on a 20,000-service
dump that was 160,000 cells and about 1.4 s, more than parsing the dump. Our cells are
already one-line strings, so a long listing needs none of that. `plain_table` writes the
same bytes as `tabulate(rows, headers, tablefmt="plain", disable_numparse=True)` for
such cells (tests/unit/test_plain_table.py holds it to that), in one pass per cell.
"""

from __future__ import annotations

from collections.abc import Sequence

_GAP = "  "  # tabulate's plain column separator
_HEADER_PADDING = 2  # tabulate's MIN_PADDING: a column is at least its header plus two


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, each as wide as its widest cell; trailing spaces dropped.

    Cells are stripped of surrounding whitespace first, as tabulate does; widths are
    counted in code points (tabulate without wcwidth, as installed here)."""
    columns = [[cell.strip() for cell in column] for column in zip(*rows, strict=True)]
    widths = [max(len(header) + _HEADER_PADDING, max(map(len, column), default=0))
              for header, column in zip(headers, columns, strict=True)]
    template = _GAP.join(f"{{:<{width}}}" for width in widths)
    lines = [template.format(*headers).rstrip()]
    lines += [template.format(*row).rstrip() for row in zip(*columns, strict=True)]
    return "\n".join(lines)
