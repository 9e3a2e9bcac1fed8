"""The log levels a capture must put back, kept on disk until they are back.

A capture that is killed (SIGKILL, a crashed laptop, a closed SSH session whose signal
never arrived) cannot restore anything; what it can do is leave a record. Before the
first level changes, capture writes the proxy's levels to a file; it removes the file
only after reading `/logging` back and finding every logger restored. The next `capture`
or `loglevel --reset` on the same proxy finds the record, says so, and restores it.

The same directory holds one lock file per proxy: `flock` on it is what keeps two
captures of one proxy apart (the second would save the first's trace levels as "before"
and leave them behind). The kernel drops the lock when its holder dies, so a killed
capture never blocks the next one. The lock only sees captures on this machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kubectl_meshdebug.errors import UsageError


def journal_dir() -> Path:
    """`$MESHDEBUG_STATE_DIR`, else `$XDG_STATE_HOME/kubectl-meshdebug/capture`."""
    explicit = os.environ.get("MESHDEBUG_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return Path(base) / "kubectl-meshdebug" / "capture"


@dataclass(frozen=True)
class SavedLevels:
    """Levels a capture saved and has not yet restored."""

    proxy: str
    levels: dict[str, str]
    pid: int
    saved_at: str

    def origin(self) -> str:
        return f"a capture (pid {self.pid}, {self.saved_at}) that did not finish"


class LevelJournal:
    """Saved levels and capture locks, one pair of files per proxy `key`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or journal_dir()

    def _stem(self, key: str) -> Path:
        return self.directory / hashlib.sha256(key.encode()).hexdigest()[:24]

    def _ensure(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise UsageError(f"cannot keep capture state in {self.directory}: "
                             f"{exc.strerror or exc}",
                             hint="set MESHDEBUG_STATE_DIR to a writable directory") from exc

    # locks ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, key: str, label: str) -> Iterator[None]:
        """Hold the proxy's capture lock, or refuse naming the capture that holds it."""
        self._ensure()
        path = self._stem(key).with_suffix(".lock")
        handle: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another capture"
                raise UsageError(f"{label} is already being captured by {holder}",
                                 hint="wait for it to end; two captures of one proxy would "
                                 "restore each other's levels") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}")
            handle.flush()
            yield
        finally:
            handle.close()  # closing drops the flock

    def busy(self, key: str) -> str | None:
        """Who holds the proxy's capture lock right now, if anyone (on this machine)."""
        path = self._stem(key).with_suffix(".lock")
        if not path.exists():
            return None
        with open(path, "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                return handle.read().strip() or "another capture"
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None

    # saved levels ----------------------------------------------------------------------
    def save(self, key: str, label: str, levels: dict[str, str]) -> None:
        """Write the levels to put back, atomically, before anything changes."""
        self._ensure()
        path = self._stem(key).with_suffix(".json")
        record = {"proxy": label, "key": key, "levels": levels, "pid": os.getpid(),
                  "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            temp.write_text(json.dumps(record), encoding="utf-8")
            os.replace(temp, path)
        except OSError as exc:
            raise UsageError(f"cannot save the levels of {label} to {path}: "
                             f"{exc.strerror or exc}",
                             hint="set MESHDEBUG_STATE_DIR to a writable directory") from exc

    def pending(self, key: str) -> SavedLevels | None:
        """The levels a capture saved for this proxy and never restored, if any."""
        path = self._stem(key).with_suffix(".json")
        try:
            record: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        levels = record.get("levels") if isinstance(record, dict) else None
        if not isinstance(levels, dict) or record.get("key") != key or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in levels.items()):
            return None
        pid = record.get("pid")
        return SavedLevels(str(record.get("proxy", "")), levels,
                           pid if isinstance(pid, int) else 0, str(record.get("saved_at", "")))

    def clear(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self._stem(key).with_suffix(".json").unlink()
