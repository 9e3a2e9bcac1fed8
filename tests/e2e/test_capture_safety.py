"""capture never leaves a real Envoy at changed levels: overlapping captures, every stop
signal, SIGKILL (the next run restores), a second signal during a stalled restore, a
closed stdout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import lab_args, send
from tests.helpers import loggers, run

pytestmark = pytest.mark.e2e


def _start(mesh: Any, *extra: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kubectl_meshdebug", *map(str, lab_args(mesh)), "capture",
         "sleep", "--log-file", str(mesh.client_log()), *extra],
        stdout=stdout, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for(predicate: Any, proc: subprocess.Popen[str] | None = None) -> None:
    """Poll until `predicate()` holds; a capture that died meanwhile fails at once."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"capture exited {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError("condition not reached in 30 s")


@pytest.fixture
def url(healthy_lab: Any) -> Iterator[str]:
    """The client sidecar's admin URL; its levels are checked unchanged afterwards."""
    address = healthy_lab.admin_url(healthy_lab.client)
    before = loggers(address)
    yield address
    now = loggers(address)
    if now != before:  # leave the module's lab as found for the next test
        run(*lab_args(healthy_lab), "loglevel", "sleep", "--reset")


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1])
def test_every_stop_signal_restores(healthy_lab, url, sig):
    before = loggers(url)
    proc = _start(healthy_lab, "--paths", "router:trace")
    _wait_for(lambda: loggers(url).get("router") == "trace", proc)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert loggers(url) == before
    assert f"stopped by {sig.name}" in err and "restored" in err
    assert "Traceback" not in err and proc.returncode == 0


def test_second_capture_refuses_and_names_the_first(healthy_lab, url):
    before = loggers(url)
    first = _start(healthy_lab, "--level", "debug")
    _wait_for(lambda: set(loggers(url).values()) == {"debug"}, first)
    second = run(*lab_args(healthy_lab), "capture", "sleep", "--level", "trace",
                 "--log-file", healthy_lab.client_log(), "--for", "1s")
    assert second.code == 2
    assert f"already being captured by pid {first.pid}" in second.err
    assert set(loggers(url).values()) == {"debug"}  # the second changed nothing
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=30)
    assert loggers(url) == before  # not the first's debug levels as "before"


def _killed_capture(mesh: Any, url: str) -> subprocess.Popen[str]:
    """A capture that set every logger to trace and was then SIGKILLed (nothing restored)."""
    proc = _start(mesh, "--level", "trace")
    _wait_for(lambda: set(loggers(url).values()) == {"trace"}, proc)
    proc.kill()
    proc.communicate(timeout=30)
    return proc


def test_after_sigkill_loglevel_reset_restores_the_saved_levels(healthy_lab, url):
    before = loggers(url)
    proc = _killed_capture(healthy_lab, url)
    assert set(loggers(url).values()) == {"trace"}  # nothing could restore them
    result = run(*lab_args(healthy_lab), "loglevel", "sleep", "--reset")
    assert result.code == 0, result.err
    assert f"restored {len(before)} loggers saved by a capture (pid {proc.pid}" in result.out
    assert loggers(url) == before
    again = run(*lab_args(healthy_lab), "loglevel", "sleep", "--reset")
    assert "saved by" not in again.out  # the record is gone once restored


def test_after_sigkill_the_next_capture_restores_the_first_levels(healthy_lab, url):
    before = loggers(url)
    proc = _killed_capture(healthy_lab, url)
    result = run(*lab_args(healthy_lab), "capture", "sleep", "--paths", "router:debug",
                 "--log-file", healthy_lab.client_log(), "--for", "0.5s")
    assert result.code == 0, result.err
    assert f"still has the levels set by a capture (pid {proc.pid}" in result.err
    assert loggers(url) == before  # the levels before the killed capture, not trace


def test_second_signal_during_a_stalled_restore_names_the_fix(healthy_lab, url):
    before = loggers(url)
    envoy = healthy_lab.envoys[healthy_lab.client.name].proc
    proc = _start(healthy_lab, "--level", "trace", "--request-timeout", "60s")
    _wait_for(lambda: set(loggers(url).values()) == {"trace"}, proc)
    # the levels are set a moment before capture says so: wait for its line, so that the
    # signal below lands in the stream, not between the two
    assert "every logger to trace" in proc.stderr.readline()
    os.kill(envoy.pid, signal.SIGSTOP)  # the restore will wait on a frozen proxy
    try:
        proc.send_signal(signal.SIGTERM)
        assert "stopped by SIGTERM" in proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        os.kill(envoy.pid, signal.SIGCONT)
    assert proc.returncode == 130
    assert "interrupted again while restoring" in err and "foo/sleep may be left" in err
    assert "kubectl meshdebug loglevel sleep --reset -n foo" in err
    assert "Traceback" not in err
    fixed = run(*lab_args(healthy_lab), "loglevel", "sleep", "--reset")
    assert fixed.code == 0 and "saved by a capture" in fixed.out, fixed.err
    assert loggers(url) == before


def test_closed_stdout_ends_quietly_and_restores(healthy_lab, url):
    before = loggers(url)
    reader_w = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL)
    proc = _start(healthy_lab, "--level", "trace", stdout=reader_w.stdin)
    reader_w.stdin.close()  # only head holds the pipe's read end
    _wait_for(lambda: set(loggers(url).values()) == {"trace"}, proc)
    # traffic writes log lines until head has its byte and closes the pipe
    _wait_for(lambda: send(healthy_lab, "httpbin.foo:8000") and reader_w.poll() is not None)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Broken pipe" not in err
    assert loggers(url) == before


def test_for_zero_is_refused(healthy_lab, url):
    result = run(*lab_args(healthy_lab), "capture", "sleep", "--for", "0",
                 "--log-file", healthy_lab.client_log())
    assert result.code == 2 and "longer than 0" in result.err


def test_captured_debug_lines_show_no_credentials(healthy_lab, url):
    """Envoy at debug dumps every request header; capture must not print the caller's
    bearer token or cookie, and still shows the headers are there."""
    token, cookie = "tok-3f9a8b7c6d5e4f3a2b1c", "session=c00k1e-9f8e7d"
    proc = _start(healthy_lab, "--paths", "http:debug", "--for", "4s")
    _wait_for(lambda: loggers(url).get("http") == "debug", proc)
    while proc.poll() is None:  # calls until the capture ends by itself, lines flushed
        send(healthy_lab, "httpbin.foo:8000", extra_headers={
            "Authorization": f"Bearer {token}", "Cookie": cookie})
        time.sleep(0.2)  # pacing the calls, not waiting for a state
    out, err = proc.communicate(timeout=60)
    assert "'authorization', '[redacted]'" in out, out[-2000:]
    assert token not in out + err and "c00k1e" not in out + err


def test_a_log_file_that_is_a_directory_is_refused_before_any_level_changes(
        healthy_lab, url, tmp_path):
    before = loggers(url)
    result = run(*lab_args(healthy_lab), "capture", "sleep", "--for", "2s",
                 "--log-file", str(tmp_path))
    assert result.code == 2 and "is a directory" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1
    assert loggers(url) == before


def test_an_output_that_fails_stops_the_capture_restores_and_says_why(healthy_lab, url):
    before = loggers(url)
    proc = _start(healthy_lab, "--paths", "http:debug", "--for", "20s", "--out", "/dev/full")
    while proc.poll() is None:  # calls until a line is written and the write fails
        send(healthy_lab, "httpbin.foo:8000")
        time.sleep(0.2)  # pacing the calls, not waiting for a state
    _out, err = proc.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "No space left on device" in err, err
    assert len(lines) == 1 and "internal error" not in err and "Traceback" not in err
    assert loggers(url) == before
