"""An API server that accepts connections and never answers (SIGSTOP): every command ends
on its own with exit 3 and one line saying what did not answer in time; completion gives
up on its own so that TAB never hangs a shell.

The subprocess timeouts below are hang guards, far above the 2 s under test: a command
without a deadline would wait on the frozen server forever and trip them. No elapsed time
is asserted (benchmarks measure speed; tests do not)."""

from __future__ import annotations

import subprocess
import sys
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
