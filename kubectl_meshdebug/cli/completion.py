"""kubectl plugin completion: `kubectl_complete-meshdebug WORDS...` prints candidates.

kubectl (1.26+) runs it with the words after `meshdebug`, the last being the one to
complete, and reads `value<TAB>description` lines ending with a `:N` directive line
(cobra's: 0 lets the shell complete file names, 4 turns that off). Anything that asks
the cluster or a proxy runs under a hard budget: TAB must answer within 2 seconds even
when the API server or a kubeconfig credential plugin hangs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import click

FILE_COMP = 0  # cobra's ShellCompDirectiveDefault: the shell completes file names
NO_FILE_COMP = 4
BUDGET = 1.8  # seconds for anything that asks the cluster or a proxy
LEVELS = ["trace", "debug", "info", "warning", "error", "critical", "off"]
# Options whose value is a file (or folder) to read or write.
FILE_OPTIONS = {"-f", "--manifests", "--dump", "--log-file", "--out", "--save", "--kubeconfig"}


def _short_help(param: click.Parameter) -> str:
    """The first sentence of the help, never cut inside a word."""
    text = " ".join(str(getattr(param, "help", "") or "").split())
    for end in (". ", "; "):
        if end in text:
            text = text.split(end, 1)[0]
    text = text.rstrip(".")
    if len(text) > 70:
        text = text[:70].rsplit(" ", 1)[0] + "..."
    return text


def _options(cmd: click.Command) -> list[tuple[str, str]]:
    out = []
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            for opt in param.opts + param.secondary_opts:
                if opt.startswith("--"):
                    out.append((opt, _short_help(param)))
    return out


def _option(cmd: click.Command | None, name: str) -> click.Option | None:
    for param in (cmd.params if cmd is not None else []):
        if isinstance(param, click.Option) and name in param.opts + param.secondary_opts:
            return param
    return None


def _takes_value(cmd: click.Command) -> set[str]:
    return {opt for p in cmd.params if isinstance(p, click.Option)
            and not p.is_flag and not p.count for opt in p.opts + p.secondary_opts}


def run_completion(group: click.Group, words: list[str]) -> int:
    if not words:
        words = [""]
    current = words[-1]
    before = words[:-1]
    ctx = click.Context(group)
    lines: list[tuple[str, str]] = []
    directive = NO_FILE_COMP
    words_only = _positional(before, _takes_value(group))
    command_name = words_only[0] if words_only else None
    cmd = group.get_command(ctx, command_name) if command_name else None
    previous = before[-1] if before else ""
    option = _option(cmd or group, previous) if previous.startswith("-") else None
    if option is not None and not option.is_flag and not option.count:
        if previous in FILE_OPTIONS:
            directive = FILE_COMP
        elif isinstance(option.type, click.Choice):
            lines = [(str(c), "") for c in option.type.choices]
        elif previous in ("-n", "--namespace"):
            lines = [(n, "namespace") for n in _within(lambda: _names(before, "Namespace"))]
    elif command_name is None:
        if current.startswith("-"):
            lines = _options(group)
        else:
            from kubectl_meshdebug.cli.main import COMMANDS

            lines = [(name, info[2]) for name, info in COMMANDS.items()]
    elif cmd is None:
        lines = []
    elif current.startswith("-"):
        lines = _options(cmd)
    else:
        positional = _positional(before, _takes_value(cmd))[1:]
        if command_name == "loglevel" and len(positional) == 1:
            lines = [(lvl, "set every logger") for lvl in LEVELS]
            lines += [(f"{name}:", f"now {level}") for name, level in
                      _within(lambda: _loggers(before, positional[0]), {}).items()]
        elif command_name == "demo":
            from kubectl_meshdebug.cli.demo import scenario_choices

            lines = scenario_choices()
        elif command_name in ("why-503", "path") and len(positional) == 1:
            lines = [(s, "service") for s in _within(lambda: _names(before, "Service"))]
        elif not positional:
            lines = [(p, "pod") for p in _within(lambda: _names(before, "Pod"))]
    for value, desc in lines:
        if value.startswith(current):
            click.echo(f"{value}\t{desc}" if desc else value)
    click.echo(f":{directive}")
    return 0


def _within(work: Callable[[], Any], default: Any = None) -> Any:
    """work(), or `default` when it fails or takes longer than the budget."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(work())
        except Exception:  # noqa: BLE001 - completion must stay silent
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BUDGET)
    if box:
        return box[0]
    return [] if default is None else default


def _positional(words: list[str], takes_value: set[str]) -> list[str]:
    """The words that are not options or option values."""
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in takes_value and "=" not in word
        else:
            out.append(word)
    return out


def _flag_values(words: list[str], *flags: str) -> list[str]:
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w in flags]


def _runtime(words: list[str]) -> Any:
    from kubectl_meshdebug.cli.options import Settings
    from kubectl_meshdebug.cli.runtime import Runtime

    def last(*flags: str) -> str | None:
        values = _flag_values(words, *flags)
        return values[-1] if values else None

    return Runtime(Settings(namespace=last("-n", "--namespace"), request_timeout=BUDGET,
                            kubeconfig=last("--kubeconfig"), context=last("--context"),
                            admin_urls=_flag_values(words, "--admin-url")))


def _loggers(words: list[str], pod: str) -> dict[str, str]:
    """The pod's logger names, when its proxy answers in time."""
    return _runtime(words).proxy(pod).admin.loggers()


def _names(words: list[str], kind: str) -> list[str]:
    """Names of a kind in the namespace (namespaces cluster-wide), cheaply."""
    rt = _runtime(words)
    namespace = None if kind == "Namespace" else rt.namespace
    return sorted(rt.state().names(kind, namespace))
