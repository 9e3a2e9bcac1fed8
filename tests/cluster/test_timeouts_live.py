"""An API server that accepts connections and never answers (SIGSTOP): every command ends
on its own with exit 3 and one line saying what did not answer in time; completion gives
up on its own so that TAB never hangs a shell. Frozen in the middle of a capture, after
the pod was read: the exec streams time out too, the restore is tried again a bounded
number of times, and what could not be restored is said and left for `loglevel --reset`.

The subprocess timeouts below are hang guards, far above the 2 s under test: a command
without a deadline would wait on the frozen server forever and trip them. No elapsed time
is asserted (benchmarks measure speed; tests do not)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import kubectl

SCENARIO = "healthy"
TIMEOUT = 2.0
HANG_GUARD = 60
# below the 30 s default --request-timeout: completion that waited on the API server
# instead of its own 2 s budget trips it
COMPLETION_GUARD = 15

COMMANDS = [
    ["audit", "-A"],
    ["why-503", "sleep", "httpbin"],
    ["describe", "sleep"],
    ["sync", "-A"],
    ["clusters", "sleep"],
    ["loglevel", "sleep"],
    ["stats", "sleep"],
    ["logs", "sleep"],
    ["check-inject", "sleep"],
    ["config-dump", "sleep"],
    ["capture", "sleep", "--for", "30s"],
]


@pytest.fixture
def frozen_apiserver(loaded, control_plane):
    control_plane.pause_apiserver()
    try:
        yield control_plane
    finally:
        control_plane.resume_apiserver()


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_commands_end_within_the_timeout(frozen_apiserver, args):
    result = kubectl(frozen_apiserver, "meshdebug", *args, "-n", "foo", "--request-timeout",
                     f"{TIMEOUT:g}s", timeout=HANG_GUARD)
    assert result.code == 3, result.err
    lines = result.err.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in result.err, result.err
    assert "in time" in lines[-1] or "did not answer" in lines[-1], result.err


def test_completion_gives_up_quickly(frozen_apiserver):
    proc = subprocess.run([str(Path(sys.executable).parent / "kubectl_complete-meshdebug"),
                           "why-503", ""], capture_output=True, text=True,
                          env=frozen_apiserver.env("admin"), timeout=COMPLETION_GUARD)
    assert proc.returncode == 0 and proc.stdout.strip().endswith(":4")


def test_completion_names_the_pods(loaded, control_plane):
    proc = subprocess.run([str(Path(sys.executable).parent / "kubectl_complete-meshdebug"),
                           "why-503", "-n", "foo", "sl"], capture_output=True, text=True,
                          env=control_plane.env("admin"), timeout=30)
    assert proc.stdout.splitlines()[0].startswith("sleep")
    through_kubectl = kubectl(control_plane, "__complete", "meshdebug", "loglevel", "-n", "foo",
                              "")
    assert "httpbin-v1" in through_kubectl.out and "sleep" in through_kubectl.out


def _levels(cp) -> dict[str, str]:
    result = kubectl(cp, "meshdebug", "loglevel", "sleep", "-n", "foo", "-o", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)["items"][0]["loggers"]


def _capture(cp, transport: str = "exec") -> subprocess.Popen[str]:
    proc = subprocess.Popen(["kubectl", "meshdebug", "capture", "sleep", "-n", "foo", "--for",
                             "4s", "--request-timeout", f"{TIMEOUT:g}s", "--transport",
                             transport],
                            env=cp.env("admin"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + HANG_GUARD
    while set(_levels(cp).values()) != {"trace"}:  # polled: the capture has set its levels
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.1)
    return proc


@pytest.mark.parametrize("transport", ["exec", "port-forward"])
def test_capture_with_the_api_server_frozen_mid_run_ends_and_says_what_is_left(
        loaded, control_plane, transport):
    before = _levels(control_plane)
    proc = _capture(control_plane, transport)
    control_plane.pause_apiserver()
    try:
        _out, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        control_plane.resume_apiserver()
    assert proc.returncode == 3, err
    assert "trying again (3/3)" in err and "could not restore (or confirm)" in err, err
    assert "loglevel sleep --reset -n foo" in err and "Traceback" not in err
    reset = kubectl(control_plane, "meshdebug", "loglevel", "sleep", "-n", "foo", "--reset")
    assert "restored" in reset.out, reset.err
    assert _levels(control_plane) == before


def test_capture_restores_once_the_api_server_answers_again(loaded, control_plane):
    before = _levels(control_plane)
    proc = _capture(control_plane)
    control_plane.pause_apiserver()
    try:
        seen = ""
        while "trying again" not in seen:  # the first restore try timed out on the stream
            line = proc.stderr.readline()
            assert line, seen
            seen += line
    finally:
        control_plane.resume_apiserver()
    _out, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0, seen + err
    assert "restored" in err and _levels(control_plane) == before
