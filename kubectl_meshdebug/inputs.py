"""Reading the files a user names (or `-` for stdin), with one-line errors for the usual
mistakes: a missing file, a binary file, text that is not UTF-8."""

from __future__ import annotations

import sys

from kubectl_meshdebug.errors import UsageError


def read_bytes(path: str, what: str) -> bytes:
    try:
        if path == "-":
            stream = getattr(sys.stdin, "buffer", None)
            return stream.read() if stream is not None else sys.stdin.read().encode()
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from exc


def read_text(path: str, what: str, expected: str, strict: bool = False) -> str:
    """Text of a file; `expected` names what it should be, for the binary-file error.
    `strict` refuses text that is not UTF-8 instead of replacing the bad bytes."""
    raw = read_bytes(path, what)
    if b"\0" in raw[:8192]:
        raise UsageError(f"{what} {path}: binary file, not {expected}")
    try:
        return raw.decode("utf-8", "strict" if strict else "replace")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path}: not UTF-8 text") from exc
