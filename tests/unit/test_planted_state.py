"""Capture state that someone else planted: links, FIFOs, foreign owners, loose modes,
forged records. Each is refused with one line naming the file and why, and nothing it
points at is written; what the tool makes itself is 0700/0600 whatever the umask."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from kubectl_meshdebug.envoy.level_journal import LevelJournal
from kubectl_meshdebug.errors import UsageError

KEY = "http://127.0.0.1:15000"
LOGGERS = {"admin": "info", "router": "info", "http": "debug"}
ROOT = os.geteuid() == 0


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir(mode=0o700)
    return path


def _name(suffix: str) -> str:
    import hashlib

    return hashlib.sha256(KEY.encode()).hexdigest()[:24] + suffix


def _record(**changes: object) -> str:
    record = {"proxy": "foo/sleep", "key": KEY, "levels": dict(LOGGERS), "pid": 42,
              "saved_at": "2026-12-03T12:00:00Z", **changes}
    return json.dumps(record)


def test_a_saved_record_round_trips(state):
    journal = LevelJournal(state)
    journal.save(KEY, "foo/sleep", LOGGERS)
    saved = journal.pending(KEY)
    assert saved is not None and saved.for_proxy(LOGGERS) == LOGGERS
    assert stat.S_IMODE((state / _name(".json")).stat().st_mode) == 0o600


def test_a_link_at_the_lock_is_not_followed(state, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (state / _name(".lock")).symlink_to(victim)
    with pytest.raises(UsageError, match="symbolic link"), LevelJournal(state).locked(KEY, "x"):
        pass
    assert victim.read_text() == "precious"


def test_a_link_at_the_journal_is_refused_and_save_replaces_only_the_link(state, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text(_record())
    (state / _name(".json")).symlink_to(victim)
    with pytest.raises(UsageError, match="symbolic link"):
        LevelJournal(state).pending(KEY)
    LevelJournal(state).save(KEY, "foo/sleep", LOGGERS)
    assert victim.read_text() == _record() and not (state / _name(".json")).is_symlink()


def test_a_fifo_at_the_journal_is_refused_without_waiting(state):
    os.mkfifo(state / _name(".json"))
    result: list[BaseException] = []

    def read() -> None:
        try:
            LevelJournal(state).pending(KEY)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading a FIFO hung"
    assert isinstance(result[0], UsageError) and "not a regular file" in str(result[0])


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o755])
def test_a_directory_others_can_use_is_refused(state, mode):
    (state / _name(".json")).write_text(_record(levels={"admin": "trace"}))
    os.chmod(state, mode)
    with pytest.raises(UsageError, match="mode"):
        LevelJournal(state).pending(KEY)


def test_a_linked_state_directory_is_refused(state, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(state)
    with pytest.raises(UsageError, match="symbolic link"):
        LevelJournal(link).save(KEY, "x", LOGGERS)


@pytest.mark.skipif(not ROOT, reason="giving a file to another user needs root")
def test_a_journal_of_another_user_is_not_applied(state):
    path = state / _name(".json")
    path.write_text(_record(levels={"admin": "trace", "router": "trace", "http": "trace"}))
    os.chown(path, 65534, 65534)
    with pytest.raises(UsageError, match="belongs to uid 65534"):
        LevelJournal(state).pending(KEY)


@pytest.mark.skipif(not ROOT, reason="giving a directory to another user needs root")
def test_a_state_directory_of_another_user_is_refused(state):
    os.chown(state, 65534, 65534)
    with pytest.raises(UsageError, match="belongs to uid 65534"):
        LevelJournal(state).save(KEY, "x", LOGGERS)


def test_a_journal_others_can_write_is_refused(state):
    path = state / _name(".json")
    path.write_text(_record())
    os.chmod(path, 0o666)
    with pytest.raises(UsageError, match="writable by others"):
        LevelJournal(state).pending(KEY)


@pytest.mark.parametrize("levels, why", [
    ({"admin": "debug,admin:trace"}, "not an Envoy log level"),
    ({"admin": "TRACE"}, "not an Envoy log level"),
    ({"ad min": "info"}, "not an Envoy logger name"),
    ({}, "saves no levels"),
    ("trace", "saves no levels"),
])
def test_records_are_read_strictly(state, levels, why):
    (state / _name(".json")).write_text(_record(levels=levels))
    with pytest.raises(UsageError, match=why):
        LevelJournal(state).pending(KEY)


def test_a_record_with_fields_this_tool_never_writes_is_refused(state):
    (state / _name(".json")).write_text(_record(command="rm -rf ~"))
    with pytest.raises(UsageError, match="unexpected fields"):
        LevelJournal(state).pending(KEY)


def test_a_record_for_loggers_the_proxy_lacks_restores_nothing(state):
    (state / _name(".json")).write_text(_record(levels={"nosuch": "info", "admin": "info"}))
    saved = LevelJournal(state).pending(KEY)
    assert saved is not None
    with pytest.raises(UsageError, match="does not have \\(nosuch\\); nothing was restored"):
        saved.for_proxy(LOGGERS)


def test_what_the_tool_makes_is_private_under_umask_000(tmp_path):
    old = os.umask(0)
    try:
        journal = LevelJournal(tmp_path / "new" / "state")
        with journal.locked(KEY, "x"):
            journal.save(KEY, "x", LOGGERS)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "state" / _name(".lock")).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new" / "state" / _name(".json")).stat().st_mode) == 0o600


def test_two_state_directories_share_one_lock_per_proxy(tmp_path):
    """A user's run and a sudo run keep state in different directories; the machine-wide
    lock still keeps their captures of one proxy apart."""
    mine, theirs = tmp_path / "user", tmp_path / "sudo"
    with LevelJournal(mine).locked(KEY, "foo/sleep"):
        with pytest.raises(UsageError, match="already being captured"), \
                LevelJournal(theirs).locked(KEY, "foo/sleep"):
            pass
        assert LevelJournal(theirs).busy(KEY) == f"pid {os.getpid()}"
    assert LevelJournal(theirs).busy(KEY) is None
    with LevelJournal(theirs).locked(KEY, "foo/sleep"):
        pass
