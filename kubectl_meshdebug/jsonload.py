"""JSON documents read without Python's cyclic garbage collector in the way.

Building a 100 MB config dump creates millions of dicts and lists; every few hundred new
containers the collector walks the young ones, and its older generations walk the whole
growing document again: json.loads of a 108 MB dump took 2.9 s with the collector on and
0.75 s with it off. Parsed JSON holds no reference cycles, so nothing is lost by pausing
it; afterwards the document is frozen out of later collections (gc.freeze), which would
otherwise walk it again for as long as the command runs.
"""

from __future__ import annotations

import gc
import json
from typing import Any

FREEZE_ABOVE = 1 << 20  # bytes: small answers are not worth a freeze


def loads(raw: bytes | str) -> Any:
    """json.loads with the collector paused (restored as it was, also on errors)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        doc = json.loads(raw)
    finally:
        if enabled:
            gc.enable()
    if len(raw) > FREEZE_ABOVE:
        gc.freeze()
    return doc
