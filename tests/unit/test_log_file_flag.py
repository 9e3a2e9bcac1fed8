"""`--log-file [[NS/]POD=]FILE` means the same on every command: POD= says whose log it
is, a bare FILE is the one pod's the command is about, a file for a pod the command does
not read is set aside with a note (so a report's suggested command takes the same flags)."""

from __future__ import annotations

import pytest

from kubectl_meshdebug.cli.logfiles import LogFiles
from kubectl_meshdebug.errors import UsageError
from tests.helpers import run

LINE = ('[2026-12-03T10:00:00.000Z] "GET / HTTP/1.1" 503 UC upstream_reset_before_response_'
        'started{connection_termination} - "-" 0 95 1 - "-" "curl" "x" "httpbin:8000" '
        '"10.0.0.2:8080" outbound|8000||httpbin.foo.svc.cluster.local 10.0.0.1:40000 '
        '10.96.0.1:8000 10.0.0.1:39999 - default\n')


def test_the_grammar():
    files = LogFiles(["sleep=/tmp/a.log", "bar/web=/tmp/b.log", "/tmp/c=d.log"])
    assert files.path_for("foo/sleep") == "/tmp/a.log"
    assert files.path_for("bar/web") == "/tmp/b.log" and files.path_for("foo/web") is None
    assert files.bare == "/tmp/c=d.log"  # "/tmp/c" is no pod: the whole is a file name
    assert files.unmatched(["foo/sleep"]) == ["bar/web"]
    with pytest.raises(UsageError):
        LogFiles(["a.log", "b.log"])
    with pytest.raises(UsageError):
        LogFiles(["a.log"]).require_one_pod(True)


def test_logs_takes_pod_equals_file(tmp_path):
    log = tmp_path / "sleep.log"
    log.write_text(LINE)
    doc = run("logs", "--log-file", f"foo/sleep={log}", "-o", "json").json()
    assert doc["items"][0]["status"] == 503 and doc["source"] == "foo/sleep"
    same = run("logs", "sleep", "-n", "foo", "--log-file", f"sleep={log}", "-o", "json")
    assert same.code == 0, same.err
    other = run("logs", "web", "-n", "foo", "--log-file", f"sleep={log}")
    assert other.code == 2 and "the log of sleep, not of web" in other.err


def test_sync_takes_pod_equals_file_like_the_others(tmp_path):
    log = tmp_path / "sleep.log"
    log.write_text("warning envoy config lds update rejected\n")
    result = run("sync", "sleep", "-n", "foo", "--admin-url", "foo/sleep=http://127.0.0.1:1",
                 "--log-file", f"sleep={log}", "--log-file", f"other={log}",
                 "--request-timeout", "2s")
    assert result.code == 3 and "no such option" not in result.err  # the proxy is down
    assert "--log-file other=...: not a pod read here" in result.err


def test_errors_wants_to_know_whose_log(tmp_path):
    log = tmp_path / "sleep.log"
    log.write_text(LINE)
    result = run("errors", "-A", "--admin-url", "foo/sleep=http://127.0.0.1:1",
                 "--log-file", str(log))
    assert result.code == 2 and "say whose log it is" in result.err
