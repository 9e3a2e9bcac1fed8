"""Reading the files a user names (or `-` for stdin), with one-line errors for the usual
mistakes: a missing file, a directory, a binary file, text that is not UTF-8, a file
larger than --max-size (`/dev/zero` must end as an error, not exhaust memory)."""

from __future__ import annotations

import sys

from kubectl_meshdebug.errors import UsageError

DEFAULT_MAX_INPUT = 1024 ** 3


def read_bytes(path: str, what: str, max_bytes: int | None = None) -> bytes:
    limit = max_bytes or DEFAULT_MAX_INPUT
    try:
        if path == "-":
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:
                data = sys.stdin.read(limit + 1).encode()
            else:
                data = stream.read(limit + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
    except IsADirectoryError as exc:
        raise UsageError(f"{what} {path}: is a directory, not a file") from exc
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror or exc}") from exc
    except MemoryError as exc:
        raise UsageError(f"{what} {path}: too large to read") from exc
    if len(data) > limit:
        raise UsageError(f"{what} {path}: larger than {limit // (1024 * 1024)} MiB",
                         hint="raise --max-size if it really is that large")
    return data


def read_text(path: str, what: str, expected: str, strict: bool = False,
              max_bytes: int | None = None) -> str:
    """Text of a file; `expected` names what it should be, for the binary-file error.
    `strict` refuses text that is not UTF-8 instead of replacing the bad bytes."""
    raw = read_bytes(path, what, max_bytes)
    if b"\0" in raw[:8192]:
        raise UsageError(f"{what} {path}: binary file, not {expected}")
    try:
        return raw.decode("utf-8", "strict" if strict else "replace")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path}: not UTF-8 text") from exc
