"""`loglevel`: show, set or reset a proxy's Envoy log levels (`/logging`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import all_namespaces_option, concurrency_option, global_options
from kubectl_meshdebug.errors import MeshdebugError, UsageError
from kubectl_meshdebug.render.output import Column, Listing

if TYPE_CHECKING:
    from kubectl_meshdebug.cli.runtime import Proxy


def _summary(loggers: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for level in loggers.values():
        counts[level] = counts.get(level, 0) + 1
    return ", ".join(f"{lvl}:{n}" for lvl, n in sorted(counts.items(), key=lambda x: -x[1]))


@click.command("loglevel", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug loglevel sleep-5b59                       # every logger and its level
  kubectl meshdebug loglevel sleep-5b59 trace                 # all loggers to trace
  kubectl meshdebug loglevel sleep-5b59 router:debug,connection:trace
  kubectl meshdebug loglevel sleep-5b59 --reset               # back to the pod's defaults
  kubectl meshdebug loglevel -l app=httpbin -n foo debug      # every matching pod
""")
@click.argument("args", nargs=-1, metavar="[POD] [LEVEL | LOGGER:LEVEL,...]")
@click.option("-l", "--selector", metavar="SELECTOR", help="Act on every pod matching labels.")
@click.option("--reset", is_flag=True,
              help="Restore the levels the pod starts with (its sidecar.istio.io/logLevel and "
              "componentLogLevel annotations, else Istio's warning,misc:error); after a "
              "capture that was killed, the levels that capture saved.")
@all_namespaces_option
@concurrency_option
@global_options
@click.pass_context
def loglevel(ctx: click.Context, args: tuple[str, ...], selector: str | None, reset: bool) -> int:
    """Show or set the Envoy log levels of a pod's sidecar.

    LEVEL sets every logger; LOGGER:LEVEL,... sets only those loggers in one request.
    Names and levels are checked against the proxy's own list before anything changes.
    """
    from kubectl_meshdebug.envoy.level_journal import LevelJournal
    from kubectl_meshdebug.envoy.logging import normalize_level, parse_level_spec, reset_plan
    from kubectl_meshdebug.kube.state import annotations

    rt = runtime(ctx)
    words = list(args)
    targets = [] if selector else words[:1]
    spec_words = words if selector else words[1:]
    if len(spec_words) > 1:
        raise UsageError(f"too many arguments: {' '.join(spec_words)}",
                         hint="give one LEVEL or one LOGGER:LEVEL,... list")
    spec = spec_words[0] if spec_words else None
    if spec and reset:
        raise UsageError("give a level or --reset, not both")
    if spec and ":" not in spec:
        normalize_level(spec)  # fail before touching any proxy
    proxies = rt.proxies(targets, selector)
    journal = LevelJournal()

    def act(proxy: Proxy) -> dict[str, Any]:
        admin = proxy.admin
        before = admin.loggers()
        key = rt.proxy_key(proxy) if reset else ""
        capturing = journal.busy(key) if reset else None
        pending = journal.pending(key) if reset and not capturing else None
        if capturing:
            rt.printer.note(f"note: {proxy.label} is being captured by {capturing}; that "
                            "capture puts its saved levels back when it ends")
        if pending is not None:
            after = admin.set_levels(pending.for_proxy(before))
            journal.clear(key)
            action = f"restored {len(pending.levels)} loggers saved by {pending.origin()}"
        elif reset:
            level, paths = reset_plan(annotations(proxy.pod) if proxy.pod else {})
            admin.set_all_levels(level)
            unknown = {k: v for k, v in paths.items() if k in before}
            after = admin.set_levels(unknown) if unknown else admin.loggers()
            action = f"reset to {level}" + (
                "," + ",".join(f"{k}:{v}" for k, v in unknown.items()) if unknown else "")
        elif spec and ":" in spec:
            wanted = parse_level_spec(spec, list(before))
            after = admin.set_levels(wanted)
            action = "set " + ",".join(f"{k}:{v}" for k, v in wanted.items())
        elif spec:
            level = normalize_level(spec)
            after = admin.set_all_levels(level)
            action = f"all {len(after)} loggers set to {level}"
        else:
            return {"pod": proxy.label, "loggers": before, "changed": False}
        changed = sorted(k for k in after if before.get(k) != after[k])
        return {"pod": proxy.label, "loggers": after, "changed": bool(changed),
                "action": action, "changed_loggers": changed}

    results = rt.fan_out(proxies, act, progress="loglevel")
    printer = rt.printer
    failures = [r for r in results if isinstance(r, MeshdebugError)]
    items = [r for r in results if not isinstance(r, MeshdebugError)]
    if len(proxies) == 1 and failures:
        raise failures[0]
    if printer.output in ("json", "yaml"):
        printer.document({"kind": "LogLevels", "items": items})
    elif len(proxies) == 1 and not spec and not reset:
        loggers = items[0]["loggers"]
        rows = [{"logger": k, "level": v} for k, v in sorted(loggers.items())]
        printer.listing(Listing("Loggers", rows, [Column("logger", "LOGGER"),
                                                  Column("level", "LEVEL")]))
    else:
        for proxy, result in zip(proxies, results, strict=True):
            if isinstance(result, MeshdebugError):
                printer.line(f"{proxy.label}: error: {result.one_line()}")
            elif "action" in result:
                printer.line(f"{proxy.label}: {result['action']}")
            else:
                printer.line(f"{proxy.label}: {_summary(result['loggers'])}")
    return rt.sweep_exit(results, False)
