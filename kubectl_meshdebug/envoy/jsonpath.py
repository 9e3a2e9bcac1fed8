"""JSONPath over config dumps with jsonpath-ng's extended grammar (filters, regex).

The expression is the user's, but what it runs over is the proxy's: a regex filter
(`=~`) runs Python's backtracking engine against names a proxy chose, and `a(a|a)*b`
over a long enough name runs for minutes. So the work is bounded: the expression's
length (jsonpath-ng's parser recurses per step), recursion (a RecursionError is an
answer, not a crash), and the time a selection with a regex may take, by running it in a
forked child that is killed at the deadline.
"""

from __future__ import annotations

import os
import pickle
import select as _select
import signal
import time
from typing import Any

from kubectl_meshdebug.errors import UsageError

EXPR_MAX_CHARS = 4096
SELECT_SECONDS = 10.0


def select(doc: Any, expr: str, seconds: float = SELECT_SECONDS) -> list[Any]:
    if len(expr) > EXPR_MAX_CHARS:
        raise UsageError(f"--jsonpath is {len(expr)} characters; at most {EXPR_MAX_CHARS}")
    compiled = _compile(expr)
    if "=~" not in expr:
        return _find(compiled, doc)
    return _find_within(compiled, doc, seconds, expr)


def _compile(expr: str) -> Any:
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse

    try:
        return parse(expr)
    except RecursionError:
        raise UsageError("--jsonpath has too many steps to parse") from None
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise UsageError(f"--jsonpath {expr[:200]!r} does not parse: {exc}") from exc


def _find(compiled: Any, doc: Any) -> list[Any]:
    import re

    try:
        return [m.value for m in compiled.find(doc)]
    except RecursionError:
        raise UsageError("--jsonpath nests deeper than it can be followed") from None
    except re.error as exc:
        raise UsageError(f"--jsonpath: the regex does not compile: {exc}") from exc


def _find_within(compiled: Any, doc: Any, seconds: float, expr: str) -> list[Any]:
    """`_find` in a forked child (the document is shared copy-on-write, not copied), its
    answer pickled back; killed when it runs past `seconds`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, then leave without running the parent's cleanup
        os.close(read_end)
        code = 0
        try:
            try:
                answer: Any = ("ok", _find(compiled, doc))
            except UsageError as exc:
                answer = ("error", exc.message)
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
        except BaseException:  # noqa: BLE001 - the parent reports a child without answer
            code = 1
        os._exit(code)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not _select.select([read_end], [], [], left)[0]:
                raise UsageError(f"--jsonpath ran longer than {seconds:g}s and was stopped "
                                 "(a regex that backtracks over long names?)",
                                 hint="anchor the regex or match a literal part of the name")
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _reap(pid)
    if not chunks:
        raise UsageError(f"--jsonpath {expr[:200]!r} could not be evaluated")
    status, value = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's answer
    if status == "error":
        raise UsageError(value)
    return list(value)


def _reap(pid: int) -> None:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass
