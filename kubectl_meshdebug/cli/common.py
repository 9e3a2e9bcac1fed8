"""Helpers the commands share: the Runtime for a click context, dump loading."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kubectl_meshdebug.cli.options import TABLE_OUTPUTS, settings
from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.inputs import read_bytes, read_text

if TYPE_CHECKING:  # the layers are imported when a command runs, not for --help
    from kubectl_meshdebug.cli.runtime import Runtime
    from kubectl_meshdebug.envoy.config_dump import ConfigDump

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


T = TypeVar("T")


def runtime(ctx: click.Context, outputs: tuple[str, ...] = TABLE_OUTPUTS) -> Runtime:
    """The command's Runtime (one per invocation); refuses -o values the command lacks."""
    from kubectl_meshdebug.cli.runtime import Runtime

    root = ctx.find_root()
    rt = root.meta.get("meshdebug.runtime")
    if rt is None:
        rt = Runtime(settings(ctx))
        root.meta["meshdebug.runtime"] = rt
    rt.require_output(outputs)
    return rt


def input_limit() -> int | None:
    """--max-size of the running command, for files read where no Runtime is at hand."""
    ctx = click.get_current_context(silent=True)
    return settings(ctx).max_input_bytes if ctx is not None else None


def dump_bytes(path: str) -> bytes:
    """A saved dump's bytes, refusing what is plainly something else."""
    raw = read_bytes(path, "--dump", input_limit())
    if not raw.strip():
        raise UsageError(f"--dump {path} is empty")
    if b"::" in raw[:4096] and raw.lstrip()[:1] not in (b"{", b"["):
        raise UsageError(f"--dump {path} is /clusters text output, not a config dump",
                         hint="save /config_dump (kubectl meshdebug config-dump POD --save F)")
    return raw


def load_dump(path: str, parts: list[str] | None = None) -> ConfigDump:
    """A saved config dump, parsing only `parts` (clusters, routes, ...) where it can.

    The file's bytes are let go once the parts are found (a file is read again only if a
    part turns out broken); standard input is read once and kept."""
    from kubectl_meshdebug.envoy.config_dump import sections_from

    kept = dump_bytes(path) if path == "-" else None
    head = bytearray(kept[:2048] if kept is not None else b"")

    def take() -> bytes:
        raw = kept if kept is not None else dump_bytes(path)
        head[:] = raw[:2048]
        return raw

    return _parse_dump(path, head, lambda: sections_from(take, set(parts) if parts else None))


def load_dump_document(path: str) -> Any:
    """A saved config dump as plain JSON (for config-dump), checked like load_dump."""

    from kubectl_meshdebug.envoy.config_dump import ConfigDump

    raw = dump_bytes(path)

    def parse() -> Any:
        from kubectl_meshdebug import jsonload

        doc = jsonload.loads(raw)
        ConfigDump.from_json(doc)
        return doc

    return _parse_dump(path, raw[:2048], parse)


def _parse_dump(path: str, head: bytes | bytearray, parse: Callable[[], T]) -> T:
    """Run `parse`, turning a bad dump into one line (with a hint where the file is
    something else, judged from its first bytes, HEAD)."""
    from kubectl_meshdebug.envoy.config_dump import ConfigDumpError

    try:
        return parse()
    except UnicodeDecodeError as exc:
        raise UsageError(f"--dump {path} is not JSON text (binary data)") from exc
    except ConfigDumpError as exc:
        hint = ("this is /clusters output; save /config_dump instead"
                if b"cluster_statuses" in head[:2048] else "")
        raise UsageError(f"--dump {path}: {exc}", hint=hint) from exc
    except RecursionError as exc:
        raise UsageError(f"--dump {path} is nested too deeply to be a config dump") from exc
    except ValueError as exc:
        raise UsageError(f"--dump {path} is not valid JSON: {exc}") from exc


def read_text_file(path: str, what: str) -> str:
    """A log (or other text) file or `-`, with one-line errors."""
    return read_text(path, what, "a log", max_bytes=input_limit())


def output_kind(path: str, flag: str) -> str:
    """What an output path is: "new", "file" (a regular file of this user's, replaced
    whole), or "stream" (a terminal, pipe or character device such as /dev/stdout, written
    through). Anything else is refused before any slow work is done: a directory, a
    block device, a socket, another user's file, a link to a file (never followed: it may
    point anywhere, and a root run would replace its target)."""
    import os
    import stat

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise UsageError(f"{flag} {path}: directory {parent} does not exist") from None
        if not os.access(parent, os.W_OK):
            raise UsageError(f"{flag} {path}: permission denied") from None
        return "new"
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.stat(path)
        except OSError:
            target = None
        if target is not None and (stat.S_ISCHR(target.st_mode) or stat.S_ISFIFO(target.st_mode)):
            return "stream"  # /dev/stdout, /dev/fd/N: the shell's own plumbing
        raise UsageError(f"{flag} {path} is a symbolic link; give the file itself")
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{flag} {path} is a directory; give a file name")
    if stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode):
        return "stream"
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{flag} {path} is not a regular file; refusing to replace it")
    if info.st_uid != os.geteuid():
        raise UsageError(f"{flag} {path} belongs to uid {info.st_uid}; refusing to replace "
                         "another user's file")
    if not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: permission denied")
    return "file"


def check_writable(path: str, flag: str) -> None:
    """Refuse an output path that cannot be written, before any slow work is done."""
    output_kind(path, flag)


def write_atomically(path: str, flag: str, text: str) -> None:
    """Write the whole file or nothing: a failure leaves no half-written file behind. A
    stream (terminal, pipe, /dev/stdout) is written through; a device is never replaced
    by a file."""
    import os
    import tempfile

    kind = output_kind(path, flag)
    try:
        if kind == "stream":
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            return
        directory = os.path.dirname(os.path.abspath(path))
        fd, temp = tempfile.mkstemp(prefix=".meshdebug-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(temp, 0o600)  # a dump may hold what redaction cannot know is secret
            os.replace(temp, path)  # replaces a link planted meanwhile, never its target
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from exc
