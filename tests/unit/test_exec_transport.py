"""The exec transport's pure parts: the error channel's status and the request line.

Everything that talks through the API server is tested against a real one in
tests/cluster/."""

from __future__ import annotations

import json

import pytest

from kubectl_meshdebug.transport.base import checked_request_line
from kubectl_meshdebug.transport.exec import parse_error_channel

SUCCESS = json.dumps({"metadata": {}, "status": "Success"})


def exit_status(code: int) -> str:
    return json.dumps({"metadata": {}, "status": "Failure",
                       "message": f"command terminated with non-zero exit code: {code}",
                       "reason": "NonZeroExitCode",
                       "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}})


def test_no_shell_and_no_path_tricks():
    for bad in ("/stats; rm -rf /", "/../etc/passwd", "/stats\nGET /quitquitquit",
                "stats", "/stats\x1b[2J"):
        with pytest.raises(ValueError):
            checked_request_line("GET", bad)
    with pytest.raises(ValueError):
        checked_request_line("DELETE", "/stats")


def test_error_channel_parsing():
    assert parse_error_channel(SUCCESS) == (0, "")
    assert parse_error_channel(exit_status(7))[0] == 7
    assert parse_error_channel("")[0] == 0
    assert parse_error_channel("not json")[0] == 1
