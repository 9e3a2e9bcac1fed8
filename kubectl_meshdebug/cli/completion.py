"""kubectl plugin completion: `kubectl_complete-meshdebug WORDS...` prints candidates.

kubectl (1.26+) runs it with the words after `meshdebug`, the last being the one to
complete, and reads `value<TAB>description` lines ending with a `:N` directive line
(4 = no file completion).
"""

from __future__ import annotations

import click

NO_FILE_COMP = 4
LEVELS = ["trace", "debug", "info", "warning", "error", "critical", "off"]


def _options(cmd: click.Command) -> list[tuple[str, str]]:
    out = []
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            for opt in param.opts + param.secondary_opts:
                if opt.startswith("--"):
                    out.append((opt, (param.help or "").split(".")[0]))
    return out


def run_completion(group: click.Group, words: list[str]) -> int:
    if not words:
        words = [""]
    current = words[-1]
    before = words[:-1]
    ctx = click.Context(group)
    lines: list[tuple[str, str]] = []
    takes_value = {opt for p in group.params if isinstance(p, click.Option)
                   and not p.is_flag and not p.count for opt in p.opts}
    words_only = _positional(before, takes_value)
    command_name = words_only[0] if words_only else None
    if command_name is None:
        if current.startswith("-"):
            lines = _options(group)
        else:
            from kubectl_meshdebug.cli.main import COMMANDS

            lines = [(name, info[2]) for name, info in COMMANDS.items()]
    else:
        cmd = group.get_command(ctx, command_name)
        if cmd is None:
            lines = []
        elif current.startswith("-"):
            lines = _options(cmd)
        else:
            positional = words_only[1:]
            if command_name == "loglevel" and len(positional) == 1:
                lines = [(lvl, "set every logger") for lvl in LEVELS]
                lines += [(f"{name}:", f"now {level}") for name, level in
                          _loggers(before, positional[0]).items()]
            elif command_name == "demo":
                from kubectl_meshdebug.cli.demo import scenario_choices

                lines = scenario_choices()
            elif not positional:
                lines = [(p, "pod") for p in _pod_names(before)]
    for value, desc in lines:
        if value.startswith(current):
            click.echo(f"{value}\t{desc}" if desc else value)
    click.echo(f":{NO_FILE_COMP}")
    return 0


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


def _loggers(words: list[str], pod: str) -> dict[str, str]:
    """The pod's logger names, when its proxy answers within a second or two."""
    try:
        from kubectl_meshdebug.cli.options import Settings
        from kubectl_meshdebug.cli.runtime import Runtime

        namespace = (_flag_values(words, "-n", "--namespace") or [None])[0]
        rt = Runtime(Settings(namespace=namespace, request_timeout=2.0,
                              admin_urls=_flag_values(words, "--admin-url")))
        return rt.proxy(pod).admin.loggers()
    except Exception:
        return {}


def _pod_names(words: list[str]) -> list[str]:
    """Pod names in the namespace, cheaply; silent when no cluster is reachable."""
    try:
        from kubectl_meshdebug.cli.options import Settings
        from kubectl_meshdebug.cli.runtime import Runtime

        namespace = None
        for flag in ("-n", "--namespace"):
            if flag in words and words.index(flag) + 1 < len(words):
                namespace = words[words.index(flag) + 1]
        rt = Runtime(Settings(namespace=namespace, request_timeout=3.0))
        return sorted(rt.state().names("Pod", rt.namespace))
    except Exception:
        return []
