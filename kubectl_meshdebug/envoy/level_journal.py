"""The log levels a capture must put back, kept on disk until they are back.

A capture that is killed (SIGKILL, a crashed laptop, a closed SSH session whose signal
never arrived) cannot restore anything; what it can do is leave a record. Before the
first level changes, capture writes the proxy's levels to a file; it removes the file
only after reading `/logging` back and finding every logger restored. The next `capture`
or `loglevel --reset` on the same proxy finds the record, says so, and restores it.

The same directory holds one lock file per proxy: `flock` on it is what keeps two
captures of one proxy apart (the second would save the first's trace levels as "before"
and leave them behind). The kernel drops the lock when its holder dies, so a killed
capture never blocks the next one. A second lock, an abstract Unix socket named after
the proxy, is seen by every user's run on this machine (the state directories of a user
and of sudo differ); it too goes with its holder.

Whatever is found in the directory is data that someone else may have planted (a shared
machine, a 1777 or pre-made XDG tree): the directory must be a real directory of this
user with no access for others, opened once and used through its descriptor; files are
opened without following links, must be regular files of this user, written to a new
temporary file and renamed; a saved record is read strictly (its schema, Envoy's level
names, logger names as Envoy spells them) and refused with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubectl_meshdebug.envoy.logging import LEVELS
from kubectl_meshdebug.errors import UsageError

RECORD_MAX_BYTES = 256 * 1024  # a real record is a few hundred bytes
_LOGGER_NAME = re.compile(r"[A-Za-z0-9_]{1,64}\Z")
_FIX_HINT = "set MESHDEBUG_STATE_DIR to a directory of yours (mode 0700)"


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
    path: str = ""

    def origin(self) -> str:
        return f"a capture (pid {self.pid}, {self.saved_at}) that did not finish"

    def for_proxy(self, loggers: dict[str, str]) -> dict[str, str]:
        """The saved levels to apply to a proxy with these loggers. A record naming a logger
        the proxy does not have was not written for it: nothing is applied."""
        unknown = sorted(set(self.levels) - set(loggers))
        if unknown:
            raise UsageError(
                f"the saved levels in {self.path} name loggers {self.proxy} does not have "
                f"({', '.join(unknown[:5])}); nothing was restored from them",
                hint=f"set the levels by hand (loglevel POD info) and remove {self.path}")
        return dict(self.levels)


def _refuse(path: str, why: str) -> UsageError:
    return UsageError(f"refusing capture state {path}: {why}", hint=_FIX_HINT)


def _check_owned(info: os.stat_result, path: str, kind: str) -> None:
    if info.st_uid != os.geteuid():
        raise _refuse(path, f"the {kind} belongs to uid {info.st_uid}, not to you")
    if info.st_mode & 0o022:
        raise _refuse(path, f"the {kind} is writable by others (mode "
                            f"{stat.S_IMODE(info.st_mode):04o})")


class LevelJournal:
    """Saved levels and capture locks, one pair of files per proxy `key`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or journal_dir()

    def _name(self, key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()[:24]

    def _path(self, name: str) -> str:
        return str(self.directory / name)

    @contextlib.contextmanager
    def _opened_dir(self, create: bool) -> Iterator[int | None]:
        """The state directory's descriptor for one operation (see _dir), then closed."""
        fd = self._dir(create)
        try:
            yield fd
        finally:
            if fd is not None:
                os.close(fd)

    def _dir(self, create: bool) -> int | None:
        """The state directory's descriptor, checked: this user's, no access for others,
        not a link. Made 0700 (whatever the umask) when `create`; else None if absent."""
        path = str(self.directory)
        if create:
            try:
                old = os.umask(0o077)
                try:
                    self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                finally:
                    os.umask(old)
            except OSError as exc:
                raise UsageError(f"cannot keep capture state in {path}: "
                                 f"{exc.strerror or exc}", hint=_FIX_HINT) from exc
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ENOENT and not create:
                return None
            why = ("it is a symbolic link" if exc.errno == errno.ELOOP or os.path.islink(path)
                   else "it is not a directory" if exc.errno == errno.ENOTDIR else
                   exc.strerror or str(exc))
            raise _refuse(path, why) from exc
        info = os.fstat(fd)
        try:
            _check_owned(info, path, "directory")
            if info.st_mode & 0o077:
                raise _refuse(path, "others can read or enter the directory (mode "
                                    f"{stat.S_IMODE(info.st_mode):04o}; it must be 0700)")
        except UsageError:
            os.close(fd)
            raise
        return fd

    def _open(self, dir_fd: int, name: str, flags: int) -> int:
        """A file in the state dir: never through a link, never a FIFO or device, only one
        of this user's that others cannot write."""
        path = self._path(name)
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600,
                         dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refuse(path, "it is a symbolic link") from exc
            raise
        info = os.fstat(fd)
        try:
            if not stat.S_ISREG(info.st_mode):
                raise _refuse(path, "it is not a regular file")
            _check_owned(info, path, "file")
        except UsageError:
            os.close(fd)
            raise
        return fd

    # locks ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, key: str, label: str) -> Iterator[None]:
        """Hold the proxy's capture lock, or refuse naming the capture that holds it."""
        with _machine_lock(key, label):
            try:
                with self._opened_dir(create=True) as dir_fd:
                    assert dir_fd is not None
                    fd = self._open(dir_fd, self._name(key) + ".lock", os.O_RDWR | os.O_CREAT)
            except OSError as exc:
                raise UsageError(f"cannot lock the capture of {label}: {exc.strerror or exc}",
                                 hint=_FIX_HINT) from exc
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    holder = _holder(fd)
                    raise UsageError(f"{label} is already being captured by {holder}",
                                     hint="wait for it to end; two captures of one proxy "
                                     "would restore each other's levels") from None
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}".encode(),
                          0)
                yield
            finally:
                os.close(fd)  # closing drops the flock

    def busy(self, key: str) -> str | None:
        """Who holds the proxy's capture lock right now, if anyone (on this machine)."""
        with self._opened_dir(create=False) as dir_fd:
            try:
                fd = -1 if dir_fd is None else self._open(dir_fd, self._name(key) + ".lock",
                                                          os.O_RDONLY)
            except FileNotFoundError:
                fd = -1
            if fd >= 0:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                except OSError:
                    return _holder(fd)
                finally:
                    os.close(fd)
        return _lock_holder(key) if _machine_lock_held(key) else None

    # saved levels ----------------------------------------------------------------------
    def save(self, key: str, label: str, levels: dict[str, str]) -> None:
        """Write the levels to put back, atomically, before anything changes."""
        with self._opened_dir(create=True) as dir_fd:
            assert dir_fd is not None
            self._save(dir_fd, key, label, levels)

    def _save(self, dir_fd: int, key: str, label: str, levels: dict[str, str]) -> None:
        name = self._name(key)
        record = {"proxy": label, "key": key, "levels": levels, "pid": os.getpid(),
                  "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        temp = f"{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
            try:
                os.write(fd, json.dumps(record).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, name + ".json", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise UsageError(f"cannot save the levels of {label} to "
                             f"{self._path(name + '.json')}: {exc.strerror or exc}",
                             hint=_FIX_HINT) from exc

    def pending(self, key: str) -> SavedLevels | None:
        """The levels a capture saved for this proxy and never restored, if any. A record
        that is not one this tool wrote, or not for this proxy, is refused (UsageError)."""
        name = self._name(key) + ".json"
        path = self._path(name)
        with self._opened_dir(create=False) as dir_fd:
            if dir_fd is None:
                return None
            try:
                fd = self._open(dir_fd, name, os.O_RDONLY)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise _refuse(path, exc.strerror or str(exc)) from exc
        try:
            data = os.read(fd, RECORD_MAX_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) > RECORD_MAX_BYTES:
            raise _refuse(path, f"larger than {RECORD_MAX_BYTES} bytes")
        return _parse_record(data, key, path)

    def clear(self, key: str) -> None:
        with self._opened_dir(create=False) as dir_fd, contextlib.suppress(OSError):
            if dir_fd is not None:
                os.unlink(self._name(key) + ".json", dir_fd=dir_fd)


def _parse_record(data: bytes, key: str, path: str) -> SavedLevels:
    try:
        record: Any = json.loads(data)
    except ValueError as exc:
        raise _refuse(path, "not a record of saved levels (not JSON)") from exc
    if not isinstance(record, dict) or set(record) != {"proxy", "key", "levels", "pid",
                                                       "saved_at"}:
        raise _refuse(path, "not a record of saved levels (unexpected fields)")
    if record["key"] != key:
        raise _refuse(path, "it was saved for another proxy")
    levels, pid = record["levels"], record["pid"]
    if not isinstance(levels, dict) or not levels:
        raise _refuse(path, "it saves no levels")
    for logger, level in levels.items():
        if not _LOGGER_NAME.match(logger):
            raise _refuse(path, f"{logger[:40]!r} is not an Envoy logger name")
        if level not in LEVELS:
            raise _refuse(path, f"{str(level)[:40]!r} is not an Envoy log level")
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise _refuse(path, "its pid is not a number")
    return SavedLevels(str(record["proxy"])[:200], dict(levels), pid,
                       str(record["saved_at"])[:40], path)


def _holder(fd: int) -> str:
    text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return text if re.fullmatch(r"pid \d{1,10} since [0-9:]{8}", text) else "another capture"


def _socket_name(key: str) -> bytes:
    return b"\0kubectl-meshdebug/capture/" + hashlib.sha256(key.encode()).hexdigest()[:32].encode()


@contextlib.contextmanager
def _machine_lock(key: str, label: str) -> Iterator[None]:
    """An abstract Unix socket bound to a name made from the proxy: every user's run of the
    tool on this machine (in this network namespace) sees it, the kernel frees it when
    the holder dies, and nothing is left on disk. The holder listens, so a second run
    learns its pid from the kernel (SO_PEERCRED), not from anything written."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(_socket_name(key))
            sock.listen(8)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise UsageError(f"cannot lock the capture of {label}: "
                                 f"{exc.strerror or exc}") from exc
            raise UsageError(f"{label} is already being captured by {_lock_holder(key)}",
                             hint="wait for it to end; two captures of one proxy "
                             "would restore each other's levels") from None
        yield
    finally:
        sock.close()


def _lock_holder(key: str) -> str:
    """The pid (and user, when not ours) of the process holding the machine-wide lock."""
    import struct

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1)
        probe.connect(_socket_name(key))
        pid, uid, _gid = struct.unpack("3i", probe.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    except OSError:
        return "another capture on this machine"
    finally:
        probe.close()
    return f"pid {pid}" + ("" if uid == os.geteuid() else f" of uid {uid}")


def _machine_lock_held(key: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.bind(_socket_name(key))
    except OSError:
        return True
    finally:
        probe.close()
    return False
