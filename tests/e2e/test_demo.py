"""The built-in demo: real Envoys started, a real failure diagnosed, everything stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import run

pytestmark = pytest.mark.e2e


def _lab_processes(parent: int | None = None) -> set[int]:
    """The lab's Envoys started by `parent` (this test process by default): other test
    runs on the same machine start labs too, and theirs are not ours to count."""
    parent = os.getpid() if parent is None else parent
    out = subprocess.run(["pgrep", "-P", str(parent), "-f", "meshdebug-lab-"],
                         capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def test_demo_lists_scenarios():
    result = run("demo", "--list")
    assert result.code == 0
    assert "dr-no-tls" in result.out and "port-443-http" in result.out


def test_default_demo_finds_the_503_and_stops_its_envoys():
    before = _lab_processes()
    result = run("demo")
    assert result.code == 0, result.err
    assert "503 upstream connect error" in result.out
    assert "[dr-tls-overrides-mtls]" in result.out
    assert "Stopped the lab." in result.out
    assert _lab_processes() <= before


def test_demo_json_is_the_why503_document():
    result = run("demo", "subset-no-pods", "-o", "json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["findings"][0]["id"] == "subset-no-pods"
    assert "Scenario subset-no-pods" in result.err  # narration stays off stdout


def test_unknown_scenario_suggests():
    result = run("demo", "subset-no-pod")
    assert result.code == 2 and "did you mean subset-no-pods" in result.err


def _alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a stopped Envoy's pid is gone or a zombie reaped)."""
    alive = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1][:1] != "Z":
                    alive.add(pid)
        except (OSError, IndexError):
            pass
    return alive


def _keep(scenario: str) -> tuple[subprocess.Popen, str]:
    """`demo SCENARIO --keep` started, read up to its list of commands to try."""
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_meshdebug", "demo", scenario,
                             "--keep"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    seen = ""
    while time.monotonic() < deadline and "Ctrl-C to stop" not in seen:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    assert "Ctrl-C to stop" in seen, seen
    return proc, seen


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_demo_leaves_nothing_running(sig):
    proc, seen = _keep("healthy")
    started = _lab_processes(proc.pid)
    assert started, "the lab should be running"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert "Stopped the lab." in seen + out
    deadline = time.monotonic() + 10
    while _alive(started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(started)
    assert "Traceback" not in err


def test_every_command_demo_keep_prints_runs_against_the_lab():
    """The commands `demo --keep` suggests are pasted as printed: each must run (an issue
    found them carrying --log-file to commands that have no such option)."""
    import shlex

    proc, _ = _keep("dr-no-tls")
    try:
        commands = []
        while len(commands) < 6:
            commands.append(shlex.split(proc.stdout.readline()))
        programs = {tuple(c[:2]) for c in commands}
        assert programs == {("kubectl", "meshdebug")}, programs  # run as python -m here
        ran = {}
        for words in commands:
            result = run(*words[2:])
            ran[words[2]] = result.code
            assert "error:" not in result.err, (words, result.err)
        assert ran == {"why-503": 1, "clusters": 0, "routes": 0, "endpoints": 0,
                       "loglevel": 0, "logs": 0}, ran
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
