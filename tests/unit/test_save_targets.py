"""`config-dump --save` writes what it was asked to and replaces nothing else: devices and
pipes are written through, links to files are not followed, other users' files and
anything that is not a regular file are refused with one line before any work."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tests.helpers import run

DUMP = str(Path(__file__).resolve().parents[1] / "data/istio/config_dump/sidecar/"
           "productpage-v1-automtls-istio1.4.json")
ROOT = os.geteuid() == 0


def _save(target: Path | str):
    return run("config-dump", "--dump", DUMP, "--save", str(target))


def test_a_new_file_is_written_private(tmp_path):
    result = _save(tmp_path / "out.json")
    assert result.code == 0, result.err
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o600
    assert '"configs"' in (tmp_path / "out.json").read_text()


def test_a_device_is_written_through_not_replaced():
    """/dev/full takes no bytes: the save fails in one line, and /dev/full stays a
    device (as root the old code renamed a regular file over it and said "saved")."""
    result = _save("/dev/full")
    assert result.code == 2 and "No space left on device" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and "saved" not in result.err
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_link_to_a_device_is_written_through(tmp_path):
    link = tmp_path / "stdout"
    link.symlink_to("/dev/null")
    result = _save(link)
    assert result.code == 0, result.err
    assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_pipe_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = _save(fifo)
    reader.join(30)
    assert result.code == 0, result.err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and b'"configs"' in got[0]


def test_a_link_to_a_file_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    result = _save(link)
    assert result.code == 2 and "symbolic link" in result.err, result.err
    assert victim.read_text() == "precious" and link.is_symlink()


def test_a_socket_is_refused(tmp_path):
    import socket

    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        result = _save(path)
    finally:
        server.close()
    assert result.code == 2 and "not a regular file" in result.err, result.err
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


@pytest.mark.skipif(not ROOT, reason="a file of another user needs root to make")
def test_another_users_file_is_not_replaced(tmp_path):
    theirs = tmp_path / "theirs.json"
    theirs.write_text("theirs")
    os.chown(theirs, 65534, 65534)
    result = _save(theirs)
    assert result.code == 2 and "another user's file" in result.err, result.err
    assert theirs.read_text() == "theirs" and theirs.stat().st_uid == 65534
