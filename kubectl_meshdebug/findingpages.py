"""The finding pages (docs/checks/ID.md), readable wherever the tool runs.

The repository keeps them in docs/checks/ for people browsing it; a wheel or the krew
single-file build copies them into kubectl_meshdebug/pages/ (setup.py, tools/build_dist.py),
so that `kubectl meshdebug explain ID` works where no repository is. In a source checkout
(editable install, tests) they are read from docs/checks/ directly.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

# Finding ids are ours, but the name reaches a path: only this grammar is ever looked up.
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_CHECKOUT = Path(__file__).resolve().parents[1] / "docs" / "checks"


def page(finding_id: str) -> str | None:
    """The page of one finding id, or None when there is none."""
    if not _ID.match(finding_id):
        return None
    name = f"{finding_id}.md"
    shipped = resources.files("kubectl_meshdebug").joinpath("pages", name)
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    local = _CHECKOUT / name
    if local.is_file():
        return local.read_text(encoding="utf-8")
    return None

