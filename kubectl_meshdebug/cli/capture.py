"""`capture`: raise the log level, stream the proxy's log, and always put the levels back.

The manual workflow (loglevel trace, kubectl logs -f, reproduce, loglevel back) in one
command that cannot forget the last step: levels are restored on --for expiry, Ctrl-C,
SIGTERM, a broken stream, or a pod restart (then there is nothing to restore: a new proxy
starts at its defaults, and capture says so).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, check_writable, runtime
from kubectl_meshdebug.cli.options import concurrency_option, global_options, parse_duration
from kubectl_meshdebug.errors import EXIT_UNREACHABLE, MeshdebugError, UsageError
from kubectl_meshdebug.render.output import escape_controls

if TYPE_CHECKING:
    from kubectl_meshdebug.cli.runtime import Proxy, Runtime


def _positive_duration(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds <= 0:
        raise click.BadParameter("must be longer than 0 (leave --for out to stop with Ctrl-C)")
    return seconds


# Signals that end a capture the way Ctrl-C does: kill's default, a closed terminal or SSH
# session, Ctrl-\, and the one some supervisors send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; `name` says which."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class StopSignals:
    """Stop signals for the whole capture. The first ends the capture (Stopped in the main
    thread); one that arrives after it, while the levels are being put back, ends the
    restore: at once if the restore is running, else as soon as it starts."""

    def __init__(self) -> None:
        self.restoring = False
        self.again = False
        self.stopping = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        # Python delivers signals to the main thread only; run elsewhere (embedded, a test
        # harness's worker thread) capture still restores on every other way out.
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *_: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if not self.stopping:
            self.stopping = True
            raise Stopped(name)
        self.again = True
        if self.restoring:
            raise Stopped(name)

    def start_restore(self) -> None:
        """From here on a further signal interrupts; one that came already does now."""
        self.stopping = True
        self.restoring = True
        if self.again:
            raise Stopped("a second signal")


@click.command("capture", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug capture httpbin-7d9c -n foo --for 30s --out trace.log
  kubectl meshdebug capture sleep-5b59 --paths router:debug,connection:trace
  kubectl meshdebug capture -l app=reviews -n bookinfo --level debug     # lines prefixed by pod
""")
@click.argument("pods", nargs=-1)
@click.option("-l", "--selector", metavar="SELECTOR", help="Every pod matching labels.")
@click.option("--level", default="trace", show_default=True, help="Level for every logger.")
@click.option("--paths", metavar="LOGGER:LEVEL,...", help="Raise only these loggers instead.")
@click.option("--for", "duration", callback=_positive_duration, metavar="DURATION",
              help="Stop after this long, e.g. 30s or 2m (default: until Ctrl-C).")
@click.option("--out", "out_file", metavar="FILE", help="Write the log here, not to stdout.")
@click.option("--log-file", "log_files", multiple=True, metavar="[[NS/]POD=]FILE",
              help="Follow this file (like tail -f) instead of the pod's log in the API server.")
@concurrency_option
@global_options
@click.pass_context
def capture(ctx: click.Context, pods: tuple[str, ...], selector: str | None, level: str,
            paths: str | None, duration: float | None, out_file: str | None,
            log_files: tuple[str, ...]) -> int:
    """Raise a sidecar's log level, stream its log, and put every logger back afterwards.

    Every logger returns to the level it had before, also when interrupted (Ctrl-C,
    SIGTERM, SIGHUP from a closed terminal, SIGQUIT, SIGUSR1), when stdout is closed, or
    when the log stream breaks. The levels before are saved on disk until they are back:
    after a capture that was killed, the next capture or `loglevel --reset` restores them.
    One capture per proxy at a time.
    """
    rt = runtime(ctx)
    proxies = rt.proxies(list(pods), selector)
    from kubectl_meshdebug.envoy.level_journal import LevelJournal
    from kubectl_meshdebug.envoy.logging import normalize_level, parse_level_spec

    level = normalize_level(level)
    files = _log_files(rt, log_files, proxies)
    if not files and rt.offline:
        raise UsageError("offline there is no pod log to stream", hint="give --log-file FILE")
    if out_file:
        check_writable(out_file, "--out")
    journal = LevelJournal()
    keys = {p.label: rt.proxy_key(p) for p in proxies}
    before: dict[str, dict[str, str]] = {}
    write_errors: list[OSError] = []
    status = 0
    with contextlib.ExitStack() as held:
        for proxy in proxies:
            held.enter_context(journal.locked(keys[proxy.label], proxy.label))
        out: IO[str] = sys.stdout
        if out_file:
            out = open(out_file, "a", encoding="utf-8")  # noqa: SIM115 - closed below
            held.callback(_close_quietly, out)
        stop = threading.Event()
        signals = held.enter_context(StopSignals())
        try:
            before = _save_levels(rt, proxies, journal, keys)
            for proxy in proxies:
                if paths:
                    proxy.admin.set_levels(parse_level_spec(paths, list(before[proxy.label])))
                else:
                    proxy.admin.set_all_levels(level)
            what = paths or f"every logger to {level}"
            rt.printer.note(f"capture: {what} on {', '.join(p.label for p in proxies)}; "
                            + (f"for {duration:g}s" if duration else "Ctrl-C to stop"))
            status = _stream(rt, proxies, files, out, stop, duration, write_errors)
        except Stopped as exc:
            signals.stopping = True
            rt.printer.note(f"capture: stopped by {exc.name}")
        except KeyboardInterrupt:
            signals.stopping = True
            rt.printer.note("capture: interrupted")
        finally:
            signals.stopping = True
            stop.set()
            status = max(status, _restore(rt, proxies, before, journal, keys, signals))
    if write_errors:  # reported after the restore, which does not depend on the output
        exc = write_errors[0]
        raise UsageError(f"{'--out ' + out_file if out_file else 'stdout'}: "
                         f"{exc.strerror or exc}; the capture stopped (levels restored)")
    return status


def _close_quietly(handle: IO[str]) -> None:
    with contextlib.suppress(OSError):
        handle.close()


def _save_levels(rt: Runtime, proxies: list[Proxy], journal: Any,
                 keys: dict[str, str]) -> dict[str, dict[str, str]]:
    """Every proxy's levels to put back, on disk before anything changes. A proxy still
    holding the changed levels of a capture that was killed gets those saved ones back."""
    before: dict[str, dict[str, str]] = {}
    for proxy in proxies:
        current = proxy.admin.loggers()
        pending = journal.pending(keys[proxy.label])
        if pending is not None:
            rt.printer.note(f"capture: {proxy.label} still has the levels set by "
                            f"{pending.origin()}; its saved {len(pending.levels)} levels are "
                            "put back when this capture ends")
            before[proxy.label] = pending.for_proxy(current)
        else:
            before[proxy.label] = current
    for proxy in proxies:
        journal.save(keys[proxy.label], proxy.label, before[proxy.label])
    return before


def _log_files(rt: Runtime, specs: tuple[str, ...], proxies: list[Proxy]) -> dict[str, str]:
    from kubectl_meshdebug.cli.logfiles import LogFiles

    given = LogFiles(specs)
    given.require_one_pod(len(proxies) != 1)
    files: dict[str, str] = {}
    for proxy in proxies:
        path = given.path_for(proxy.label) or given.bare
        if path is not None:
            files[proxy.label] = path
    for name in given.unmatched([p.label for p in proxies]):
        rt.printer.note(f"note: --log-file {name}=...: not one of the captured pods; not read")
    for path in files.values():
        _check_log_file(path)
    return files


def _check_log_file(path: str) -> None:
    """A log to follow must be a readable regular file, checked before any level changes
    (a directory or FIFO found only then would leave the proxy at trace meanwhile)."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"--log-file {path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"--log-file {path}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    if stat.S_ISDIR(mode):
        raise UsageError(f"--log-file {path} is a directory; give the proxy's log file")
    if not stat.S_ISREG(mode):
        raise UsageError(f"--log-file {path} is not a regular file")


MAX_LINE = 1 << 20  # a longer "line" is shown in pieces


def _follow_file(path: str, stop: threading.Event) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        fh.seek(0, os.SEEK_END)
        partial = ""
        while not stop.is_set():
            chunk = fh.readline(1 << 16)
            if not chunk:
                time.sleep(0.1)
                continue
            partial += chunk
            if partial.endswith("\n") or len(partial) >= MAX_LINE:  # no line outgrows memory
                yield partial.rstrip("\n")
                partial = ""


def _follow_pod(rt: Runtime, proxy: Proxy, stop: threading.Event) -> Iterator[str]:
    source = rt.state().source
    buffer = b""
    for chunk in source.follow_log(proxy.namespace, proxy.name, rt.settings.container):
        if stop.is_set():
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        if len(buffer) >= MAX_LINE:
            lines.append(buffer)
            buffer = b""
        for line in lines:
            yield line.decode("utf-8", "replace")


def _stream(rt: Runtime, proxies: list[Proxy], files: dict[str, str], out: IO[str],
            stop: threading.Event, duration: float | None,
            write_errors: list[OSError]) -> int:
    from kubectl_meshdebug.envoy.redact import scrub_line

    lock = threading.Lock()
    prefix = len(proxies) > 1
    ended: dict[str, str] = {}
    closed = threading.Event()

    def pump(proxy: Proxy) -> None:
        try:
            source = (_follow_file(files[proxy.label], stop) if proxy.label in files
                      else _follow_pod(rt, proxy, stop))
            for line in source:
                line = escape_controls(scrub_line(line))
                with lock:
                    try:
                        out.write(f"[{proxy.label}] {line}\n" if prefix else line + "\n")
                        out.flush()
                    except BrokenPipeError:
                        raise
                    except OSError as exc:  # a full disk, /dev/full: stop, then report
                        write_errors.append(exc)
                        stop.set()
                        return
            if not stop.is_set():
                ended[proxy.label] = "the log stream ended"
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            closed.set()
            stop.set()
        except Exception as exc:  # a broken stream must not skip the restore
            ended[proxy.label] = f"the log stream broke: {exc}"

    threads = [threading.Thread(target=pump, args=(p,), daemon=True) for p in proxies]
    for t in threads:
        t.start()
    deadline = time.monotonic() + duration if duration else None
    while not stop.is_set():
        if deadline and time.monotonic() >= deadline:
            break
        if len(ended) == len(proxies):
            break
        time.sleep(0.1)
    stop.set()
    if closed.is_set() or write_errors:
        return 0
    for label, why in ended.items():
        rt.printer.note(f"capture: {label}: {why}" + _restart_note(rt, label))
    return EXIT_UNREACHABLE if ended and len(ended) == len(proxies) else 0


def _restart_note(rt: Runtime, label: str) -> str:
    if rt.offline or not rt.has_cluster_view():
        return ""
    try:
        ns, name = label.split("/", 1)
        pod = rt.state().source.read_pod(ns, name)
    except Exception:
        return ""
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == rt.settings.container and status.get("restartCount"):
            return (f" (the proxy restarted {status['restartCount']} times: a new proxy "
                    "starts at its default levels)")
    return ""


def _restore(rt: Runtime, proxies: list[Proxy], before: dict[str, dict[str, str]],
             journal: Any, keys: dict[str, str], signals: StopSignals) -> int:
    """Put every saved level back and check it by reading `/logging` again. A second stop
    signal meanwhile ends the restore, naming what may be left and the fix."""
    failed = 0
    left = [p for p in proxies if before.get(p.label)]
    try:
        signals.start_restore()
        while left:
            proxy = left[0]
            levels = before[proxy.label]
            try:
                _restore_one(rt, proxy, levels)
                journal.clear(keys[proxy.label])
                rt.printer.note(f"capture: restored {len(levels)} loggers on {proxy.label}")
            except MeshdebugError as exc:
                failed += 1
                rt.printer.note(f"error: could not restore (or confirm) the log levels of "
                                f"{proxy.label}: {exc.one_line()}; they are saved: run "
                                f"{_fix(proxy)}")
            left.pop(0)
    except KeyboardInterrupt:
        names = ", ".join(p.label for p in left)
        rt.printer.note(f"capture: interrupted again while restoring; the log levels of "
                        f"{names} may be left changed. Their old levels are saved: run "
                        + "; ".join(_fix(p) for p in left))
        return 130
    return EXIT_UNREACHABLE if failed else 0


RESTORE_TRIES = 3  # each within --request-timeout, a second apart


def _restore_one(rt: Runtime, proxy: Proxy, levels: dict[str, str]) -> None:
    """Set the saved levels and read them back, trying again on a fresh connection when
    the way to the proxy failed (an API server that stalled a moment, a stream that
    died): RESTORE_TRIES tries at most, so a capture never waits without end."""
    from kubectl_meshdebug.errors import UnreachableError

    for attempt in range(1, RESTORE_TRIES + 1):
        try:
            proxy.admin.set_levels(levels)  # raises unless the read-back agrees
            return
        except UnreachableError as exc:
            if attempt == RESTORE_TRIES:
                raise
            rt.printer.note(f"capture: could not reach {proxy.label} to restore "
                            f"({exc.one_line()}); trying again ({attempt + 1}/"
                            f"{RESTORE_TRIES})")
            # a fresh try, not the remembered failure of the proxy or the API server
            proxy.admin.stalled = None
            connection = getattr(rt, "connection", None)
            if connection is not None and getattr(connection, "down", None) is not None:
                connection.down = None
            time.sleep(1)


def _fix(proxy: Proxy) -> str:
    from kubectl_meshdebug.mesh.commands import pod_hint

    return pod_hint("loglevel", proxy.name, proxy.namespace, "--reset")
