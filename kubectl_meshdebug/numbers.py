"""Numbers read from outside, with a digit limit.

`str.isdecimal()` accepts any script's digits ("٨٠" is 80 to int()), and int() of more
than 4,300 digits raises: a port of 5,000 digits in one proxy's cluster name used to end
`errors -A` for every proxy. Ports and counters from a proxy, a log or a manifest are
read here: ASCII digits only, as many as the number can have, else None.
"""

from __future__ import annotations

PORT_MAX = 65535
COUNT_DIGITS = 20  # a uint64 counter has at most 20 digits


def port_number(text: object) -> int | None:
    """A TCP/UDP port (1-65535, or 0) written in ASCII digits, else None."""
    if not isinstance(text, str) or not 0 < len(text) <= 5 or not text.isascii() \
            or not text.isdigit():
        return None
    value = int(text)
    return value if value <= PORT_MAX else None


def count_number(text: object) -> int | None:
    """A counter, duration or status written in ASCII digits (at most 20), else None."""
    if not isinstance(text, str) or not 0 < len(text) <= COUNT_DIGITS or not text.isascii() \
            or not text.isdigit():
        return None
    return int(text)
