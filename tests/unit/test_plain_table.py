"""Long listings skip tabulate for speed: the bytes must stay tabulate's."""

from __future__ import annotations

import random

import pytest
from tabulate import tabulate

from kubectl_meshdebug.render.columns import plain_table
from kubectl_meshdebug.render.output import LONG_LISTING, Column, Printer

CELLS = ["-", "", " padded ", "outbound|8000||httpbin.foo.svc.cluster.local", "42", "1.5",
         "-3", "yes", "ISTIO_MUTUAL (!)", "\u00e9t\u00e9", "\u4e2d\u6587", "a\\nb",
         "\u00a0nbsp\u00a0", "{0}", "%s", "1e9", "nan", "inf", "0x1f", "True", "None"]


def _tabulate(headers: list[str], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True)


@pytest.mark.parametrize("seed", range(40))
def test_same_bytes_as_tabulate(seed: int) -> None:
    rng = random.Random(seed)
    width = rng.randint(1, 6)
    headers = [rng.choice(["NAME", "PORT", "A", "SERVICE FQDN", "TLS"]) for _ in range(width)]
    rows = [[rng.choice(CELLS) for _ in range(width)] for _ in range(rng.randint(1, 30))]
    assert plain_table(headers, rows) == _tabulate(headers, rows)


def test_a_numeric_looking_column_stays_left_aligned() -> None:
    rows = [["1"], ["100"], ["-"]]
    assert plain_table(["PORT"], rows) == _tabulate(["PORT"], rows) == \
        "PORT\n1\n100\n-"


def test_long_listing_prints_as_a_short_one_would(capsys: pytest.CaptureFixture[str]) -> None:
    """The printer switches writers above LONG_LISTING rows; a user sees no seam."""
    columns = [Column("name", "NAME"), Column("port", "PORT"), Column("tls", "TLS")]
    items = [{"name": f"svc{i}" * (i % 3 + 1), "port": 8000 + i, "tls": None if i % 2 else "auto"}
             for i in range(LONG_LISTING + 5)]
    Printer(color=False).table(items, columns)
    fast = capsys.readouterr().out
    rows = [[c.cell(item) for c in columns] for item in items]
    assert fast == _tabulate([c.header for c in columns], rows) + "\n"
