"""`capture`: raise the log level, stream the proxy's log, and always put the levels back.

The manual workflow (loglevel trace, kubectl logs -f, reproduce, loglevel back) in one
command that cannot forget the last step: levels are restored on --for expiry, Ctrl-C,
SIGTERM, a broken stream, or a pod restart (then there is nothing to restore: a new proxy
starts at its defaults, and capture says so).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import concurrency_option, global_options
from kubectl_meshdebug.errors import EXIT_UNREACHABLE, MeshdebugError, UsageError

if TYPE_CHECKING:
    from kubectl_meshdebug.cli.runtime import Proxy, Runtime


def _duration(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        number = text[: -len(unit)]
        if text.endswith(unit) and number.replace(".", "", 1).isdecimal():
            return float(number) * units[unit]
    if text.replace(".", "", 1).isdecimal():
        return float(text)
    raise click.BadParameter(f"{value!r} is not a duration like 30s or 2m")


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
@click.option("--for", "duration", callback=_duration, expose_value=True, metavar="DURATION",
              help="Stop after this long (default: until Ctrl-C).")
@click.option("--out", "out_file", metavar="FILE", help="Write the log here, not to stdout.")
@click.option("--log-file", "log_files", multiple=True, metavar="[POD=]FILE",
              help="Follow this file (like tail -f) instead of the pod's log in the API server.")
@concurrency_option
@global_options
@click.pass_context
def capture(ctx: click.Context, pods: tuple[str, ...], selector: str | None, level: str,
            paths: str | None, duration: float | None, out_file: str | None,
            log_files: tuple[str, ...]) -> int:
    """Raise a sidecar's log level, stream its log, and put every logger back afterwards.

    Every logger returns to the level it had before, also when interrupted (Ctrl-C,
    SIGTERM) or when the log stream breaks.
    """
    rt = runtime(ctx)
    proxies = rt.proxies(list(pods), selector)
    from kubectl_meshdebug.envoy.logging import normalize_level, parse_level_spec

    level = normalize_level(level)
    files = _log_files(log_files, proxies)
    if not files and rt.offline:
        raise UsageError("offline there is no pod log to stream", hint="give --log-file FILE")
    before: dict[str, dict[str, str]] = {}
    out: IO[str] = open(out_file, "a", encoding="utf-8") if out_file else sys.stdout  # noqa: SIM115
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    status = 0
    try:
        for proxy in proxies:  # record first, so that a failure changes nothing
            before[proxy.label] = proxy.admin.loggers()
        for proxy in proxies:
            if paths:
                proxy.admin.set_levels(parse_level_spec(paths, list(before[proxy.label])))
            else:
                proxy.admin.set_all_levels(level)
        what = paths or f"every logger to {level}"
        rt.printer.note(f"capture: {what} on {', '.join(p.label for p in proxies)}; "
                        + (f"for {duration:g}s" if duration else "Ctrl-C to stop"))
        status = _stream(rt, proxies, files, out, stop, duration)
    except KeyboardInterrupt:
        rt.printer.note("capture: interrupted")
    finally:
        stop.set()
        signal.signal(signal.SIGTERM, previous)
        if out_file:
            out.close()
        status = max(status, _restore(rt, proxies, before))
    return status


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _log_files(specs: tuple[str, ...], proxies: list[Proxy]) -> dict[str, str]:
    files: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            if len(proxies) != 1:
                raise UsageError("with several pods, give --log-file POD=FILE for each")
            files[proxies[0].label] = spec
            continue
        match = [p for p in proxies if p.label == name or p.label.endswith("/" + name)]
        if not match:
            raise UsageError(f"--log-file {spec}: {name} is not one of the captured pods")
        files[match[0].label] = path
    for path in files.values():
        if not os.path.exists(path):
            raise UsageError(f"--log-file {path}: no such file")
    return files


def _follow_file(path: str, stop: threading.Event) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        fh.seek(0, os.SEEK_END)
        partial = ""
        while not stop.is_set():
            chunk = fh.readline()
            if not chunk:
                time.sleep(0.1)
                continue
            partial += chunk
            if partial.endswith("\n"):
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
        for line in lines:
            yield line.decode("utf-8", "replace")


def _stream(rt: Runtime, proxies: list[Proxy], files: dict[str, str], out: IO[str],
            stop: threading.Event, duration: float | None) -> int:
    lock = threading.Lock()
    prefix = len(proxies) > 1
    ended: dict[str, str] = {}

    def pump(proxy: Proxy) -> None:
        try:
            source = (_follow_file(files[proxy.label], stop) if proxy.label in files
                      else _follow_pod(rt, proxy, stop))
            for line in source:
                with lock:
                    out.write(f"[{proxy.label}] {line}\n" if prefix else line + "\n")
                    out.flush()
            if not stop.is_set():
                ended[proxy.label] = "the log stream ended"
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


def _restore(rt: Runtime, proxies: list[Proxy], before: dict[str, dict[str, str]]) -> int:
    failed = 0
    for proxy in proxies:
        levels = before.get(proxy.label)
        if not levels:
            continue
        try:
            after = proxy.admin.set_levels(levels)
            changed = [k for k, v in levels.items() if after.get(k) != v]
            if changed:
                raise MeshdebugError(f"{len(changed)} loggers did not take their old level")
            rt.printer.note(f"capture: restored {len(levels)} loggers on {proxy.label}")
        except MeshdebugError as exc:
            failed += 1
            rt.printer.note(f"error: could not restore the log levels of {proxy.label}: "
                            f"{exc.one_line()}; run: kubectl meshdebug loglevel "
                            f"{proxy.name} -n {proxy.namespace} --reset")
    return EXIT_UNREACHABLE if failed else 0
