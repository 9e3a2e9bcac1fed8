"""An API server that accepts connections and never answers (SIGSTOP): every command ends
within --request-timeout plus a little, with exit 3 and one line; completion gives up
within its own 2 seconds so that TAB never hangs a shell."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import kubectl

SCENARIO = "healthy"
TIMEOUT = 2.0
SLACK = 6.0  # interpreter start, kubeconfig, one retry of the connect

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
    started = time.monotonic()
    result = kubectl(frozen_apiserver, "meshdebug", *args, "-n", "foo", "--request-timeout",
                     f"{TIMEOUT:g}s", timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + SLACK, (elapsed, result.err)
    assert result.code == 3, result.err
    lines = result.err.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in result.err, result.err
    assert "in time" in lines[-1] or "did not answer" in lines[-1], result.err


def test_completion_gives_up_quickly(frozen_apiserver):
    started = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "kubectl_complete-meshdebug"),
                           "why-503", ""], capture_output=True, text=True,
                          env=frozen_apiserver.env("admin"), timeout=30)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 1.5, elapsed
    assert proc.returncode == 0 and proc.stdout.strip().endswith(":4")


def test_completion_names_the_pods(loaded, control_plane):
    proc = subprocess.run([str(Path(sys.executable).parent / "kubectl_complete-meshdebug"),
                           "why-503", "-n", "foo", "sl"], capture_output=True, text=True,
                          env=control_plane.env("admin"), timeout=30)
    assert proc.stdout.splitlines()[0].startswith("sleep")
    through_kubectl = kubectl(control_plane, "__complete", "meshdebug", "loglevel", "-n", "foo",
                              "")
    assert "httpbin-v1" in through_kubectl.out and "sleep" in through_kubectl.out
