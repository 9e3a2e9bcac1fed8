"""Run the CLI in-process and read Envoy's admin API directly, for assertions."""

from __future__ import annotations

import contextlib
import io
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubectl_meshdebug.cli.main import main

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = Path(__file__).parent / "data"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(*args: str, stdin: str | None = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if stdin is not None:
            import sys

            old = sys.stdin
            sys.stdin = io.StringIO(stdin)
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            if stdin is not None:
                sys.stdin = old
    return Result(code, out.getvalue(), err.getvalue())


def admin_get(url: str, path: str, method: str = "GET") -> bytes:
    req = urllib.request.Request(url + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def admin_json(url: str, path: str) -> Any:
    return json.loads(admin_get(url, path))


def loggers(url: str) -> dict[str, str]:
    from kubectl_meshdebug.envoy.logging import parse_loggers

    return parse_loggers(admin_get(url, "/logging", "POST").decode())
