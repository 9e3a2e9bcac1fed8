"""Entry points: the `kubectl-meshdebug` group and the kubectl completion helper.

Commands are imported only when run (LazyGroup), so `--help` costs little more than
importing click. Every failure ends as one line on stderr with DESIGN.md's exit codes.
"""

from __future__ import annotations

import importlib
import io
import os
import sys

import click

from kubectl_meshdebug import __version__
from kubectl_meshdebug.cli.options import global_options, settings
from kubectl_meshdebug.errors import EXIT_UNREACHABLE, MeshdebugError
from kubectl_meshdebug.render.formats import OUTPUTS

# name -> (module, function, one-line help). Help text lives here so that listing the
# commands imports none of them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "why-503": ("why503", "why_503", "Find why calls from a pod to a Service fail, with the fix."),
    "path": ("path", "path", "Every hop of a call through the proxies, the broken one marked."),
    "errors": ("errors", "errors", "Where the mesh fails: failing calls from every sidecar's counters."),
    "describe": ("describe", "describe", "Services, rules and policies that apply to a pod."),
    "audit": ("audit", "audit", "Mesh-wide configuration checks on objects alone."),
    "collect": ("collect", "collect", "Every object the checks read, as one YAML List for -f."),
    "check-inject": ("checkinject", "check_inject", "Why a pod has or lacks a sidecar, and the fix."),
    "sync": ("sync", "sync", "Is each proxy's configuration current and accepted?"),
    "logs": ("logs", "logs", "Access-log lines with flags and details explained."),
    "capture": ("capture", "capture", "Trace a sidecar's log for a while; levels always restored."),
    "loglevel": ("loglevel", "loglevel", "Show or set a proxy's Envoy log levels."),
    "stats": ("stats", "stats", "Envoy stats, filtered by regex or Service, with deltas."),
    "clusters": ("clusters", "clusters", "Envoy clusters with TLS, breakers and endpoints."),
    "routes": ("routes", "routes", "Envoy routes: domains, matches and target clusters."),
    "listeners": ("listeners", "listeners", "Envoy listeners and their filter chains."),
    "endpoints": ("endpoints", "endpoints", "Envoy endpoints with every health flag spelled out."),
    "certs": ("certs", "certs", "Workload certificate and roots: validity, identity, rotation."),
    "config-dump": ("configdump", "config_dump", "The proxy's config dump, or a part via JSONPath."),
    "explain": ("explain", "explain", "What a finding means, how it is detected, and the fix."),
    "demo": ("demo", "demo", "Run a built-in failure scenario on real Envoys and diagnose it."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        try:
            mod = importlib.import_module(f"kubectl_meshdebug.cli.{module}")
        except ModuleNotFoundError:
            return None
        return getattr(mod, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, _, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""Examples:

\b
  kubectl meshdebug why-503 sleep-5b59 httpbin -n foo
  kubectl meshdebug loglevel sleep-5b59 trace
  kubectl meshdebug stats deploy/sleep --service httpbin:8000 --delta 10
  kubectl meshdebug clusters sleep-5b59 --fqdn httpbin.foo.svc.cluster.local
  kubectl meshdebug demo

Every command takes kubectl's flags after its name (-n, --context, --kubeconfig, -o).""",
)
@click.version_option(__version__, prog_name="kubectl-meshdebug")
@global_options(outputs=OUTPUTS)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Debug Istio sidecars: Envoy's admin API joined to your Services and Istio rules."""
    settings(ctx)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _verbose(argv: list[str]) -> bool:
    return any(a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"})
               for a in argv)


def _closed_streams_to_devnull() -> None:
    """A stream closed by the shell (`>&-`, `2>&-`) is None in Python: what would go
    there is discarded, and the command still runs and returns its exit code."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def main(argv: list[str] | None = None) -> None:
    _closed_streams_to_devnull()
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["__complete"]:  # krew installs one binary: completion rides on it
        complete(args[1:])
    prog = "kubectl meshdebug"
    verbose = _verbose(args)
    try:
        rc = cli.main(args=args, prog_name=prog, standalone_mode=False)
        sys.stdout.flush()  # a closed pipe shows here, not at exit after the code is set
    except MeshdebugError as exc:
        click.echo(f"error: {exc.one_line()}", err=True)
        if verbose and exc.detail:
            click.echo(exc.detail.rstrip(), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # kubectl's shape: what is wrong, and where help is
        where = exc.ctx.command_path if exc.ctx is not None else prog
        message = " ".join(exc.format_message().split()).rstrip(".")
        click.echo(f"error: {message}; see '{where} --help'", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        _quiet_stdout()
        sys.exit(0)
    except SystemExit:
        # click answers EPIPE itself with exit 1 after wrapping stdout; a closed pipe is
        # the reader's choice, not a failure
        if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):
            sys.exit(0)
        raise
    except Exception as exc:  # a bug: still one line unless -v asks for the traceback
        if verbose:
            raise
        click.echo(
            f"error: internal error {exc.__class__.__name__}: {exc} (rerun with -v for the "
            "traceback, and please report it)", err=True)
        sys.exit(EXIT_UNREACHABLE if isinstance(exc, OSError) else 70)
    sys.exit(rc if isinstance(rc, int) else 0)


def complete(argv: list[str] | None = None) -> None:
    """kubectl_complete-meshdebug: kubectl runs it with the words after `meshdebug`."""
    from kubectl_meshdebug.cli.completion import run_completion

    sys.exit(run_completion(cli, list(sys.argv[1:] if argv is None else argv)))
