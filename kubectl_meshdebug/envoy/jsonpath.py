"""JSONPath over config dumps with jsonpath-ng's extended grammar (filters, regex)."""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.errors import UsageError


def select(doc: Any, expr: str) -> list[Any]:
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse

    try:
        compiled = parse(expr)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise UsageError(f"--jsonpath {expr!r} does not parse: {exc}") from exc
    return [m.value for m in compiled.find(doc)]
