"""kubectl's global flags, accepted both before and after the command name.

kubectl refuses `kubectl -n foo meshdebug ...`, so users write `kubectl meshdebug loglevel
POD -n foo`; every command therefore carries the same options. Values land in one
Settings object on the root context; a flag given after the command wins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

# 256 MiB: a 20,000-service dump with EDS is 50-150 MB. Reading an answer this size and
# parsing it peaks near 2 GiB (the raw bytes about 3x while read, JSON objects 5-6x).
DEFAULT_MAX_SIZE = 256 * 1024 ** 2


class Settings:
    """The global flags' values (a plain class: dataclasses cost every start-up)."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 namespace: str | None = None, all_namespaces: bool = False,
                 request_timeout: float = 30.0, output: str = "table", verbose: int = 0,
                 no_color: bool = False, manifests: list[str] | None = None,
                 admin_urls: list[str] | None = None, transport: str = "exec",
                 container: str = "istio-proxy", admin_port: int = 15000,
                 concurrency: int = 8, max_size: int = DEFAULT_MAX_SIZE,
                 istio_namespace: str = "istio-system") -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespace = namespace
        self.all_namespaces = all_namespaces
        self.request_timeout = request_timeout
        self.output = output
        self.verbose = verbose
        self.no_color = no_color
        self.manifests = list(manifests or [])
        self.admin_urls = list(admin_urls or [])
        self.transport = transport
        self.container = container
        self.admin_port = admin_port
        self.concurrency = concurrency
        self.max_size = max_size
        self.istio_namespace = istio_namespace

    @property
    def max_answer_bytes(self) -> int:
        return self.max_size

    @property
    def max_input_bytes(self) -> int:
        return self.max_size


def settings(ctx: click.Context) -> Settings:
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    return root.obj


def _store(attr: str, multiple: bool = False) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        source = ctx.get_parameter_source(param.name or attr)
        if source is None or source.name == "DEFAULT":
            return value
        target = settings(ctx)
        if multiple:
            getattr(target, attr).extend(value)
        elif attr == "verbose":
            target.verbose += value
        else:
            setattr(target, attr, value)
        return value

    return callback


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DURATION = 7 * 24 * 3600.0


def parse_duration(text: Any, what: str = "duration") -> float:
    """`30s`, `1m`, `500ms`, `1.5h` or plain seconds, the one grammar every duration flag
    takes (as kubectl's --request-timeout does)."""
    raw = str(text).strip().lower()
    unit = next((u for u in ("ms", "s", "m", "h") if raw.endswith(u)), "")
    number = raw[: len(raw) - len(unit)] if unit else raw
    if not number or len(number) > 12 or not number.isascii() or \
            not number.replace(".", "", 1).isdecimal():
        raise click.BadParameter(f"{text!r} is not a {what} like 30s, 1m or 500ms")
    seconds = float(number) * _DURATION_UNITS.get(unit, 1.0)
    if seconds > MAX_DURATION:
        raise click.BadParameter(f"{text!r} is longer than a week")
    return seconds


def duration_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback for duration flags (None stays None)."""
    if value is None:
        return None
    return parse_duration(value)


def _parse_timeout(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return value
    seconds = parse_duration(value)
    if seconds <= 0:
        seconds = MAX_DURATION  # kubectl: 0 means no timeout
    return _store("request_timeout")(ctx, param, seconds)


_SIZE_UNITS = {"": 1, "k": 1000, "m": 1000 ** 2, "g": 1000 ** 3, "ki": 1024, "mi": 1024 ** 2,
               "gi": 1024 ** 3}


def parse_size(text: str) -> int:
    """`512Mi`, `2Gi`, `100M`, `1000000` -> bytes (Kubernetes quantity suffixes)."""
    raw = str(text).strip().lower().removesuffix("b")
    number = raw.rstrip("kmgi")
    unit = raw[len(number):]
    if not number or not number.isascii() or not number.replace(".", "", 1).isdecimal() or \
            unit not in _SIZE_UNITS or len(number) > 15:
        raise click.BadParameter(f"{text!r} is not a size like 512Mi or 2Gi")
    size = int(float(number) * _SIZE_UNITS[unit])
    if size < 1024:
        raise click.BadParameter(f"{text!r} is smaller than 1Ki")
    return size


def _parse_size_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return value
    return _store("max_size")(ctx, param, parse_size(value))


GLOBAL_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--kubeconfig", metavar="PATH", expose_value=False, callback=_store("kubeconfig"),
                 help="Path to the kubeconfig file."),
    click.option("--context", metavar="NAME", expose_value=False, callback=_store("context"),
                 help="The kubeconfig context to use."),
    click.option("-n", "--namespace", metavar="NS", expose_value=False,
                 callback=_store("namespace"),
                 help="Namespace of the target (default: the context's namespace)."),
    click.option("--request-timeout", metavar="DURATION", expose_value=False,
                 callback=_parse_timeout,
                 help="Timeout for each API server or admin call, e.g. 30s (default 30s)."),
    None,  # -o/--output: each command lists only the formats it prints
    click.option("-v", "--verbose", count=True, expose_value=False, callback=_store("verbose"),
                 help="More detail, including on errors; -vv also shows each exec into a proxy."),
    click.option("--no-color", is_flag=True, expose_value=False, callback=_store("no_color"),
                 help="No colour (also when NO_COLOR is set)."),
    click.option("-f", "--manifests", multiple=True, metavar="PATH", expose_value=False,
                 callback=_store("manifests", multiple=True),
                 help="Read Kubernetes/Istio objects from files, folders or - instead of the "
                 "API server (repeatable)."),
    click.option("--admin-url", "admin_urls", multiple=True, metavar="[NS/]POD=URL",
                 expose_value=False, callback=_store("admin_urls", multiple=True),
                 help="Reach POD's Envoy admin at URL directly (repeatable)."),
    click.option("--transport", type=click.Choice(["exec", "port-forward"]), expose_value=False,
                 callback=_store("transport"),
                 help="How to reach the admin port through the API server (default exec)."),
    click.option("-c", "--container", metavar="NAME", expose_value=False,
                 callback=_store("container"), help="Proxy container (default istio-proxy)."),
    click.option("--admin-port", type=click.IntRange(1, 65535), expose_value=False,
                 callback=_store("admin_port"), help="Envoy admin port (default 15000)."),
    click.option("--istio-namespace", "-i", metavar="NS", expose_value=False,
                 callback=_store("istio_namespace"),
                 help="Namespace of the Istio control plane and its mesh config "
                 "(default istio-system), as istioctl's --istioNamespace."),
    click.option("--max-size", metavar="SIZE", expose_value=False, callback=_parse_size_option,
                 help="Largest proxy answer or input file read, e.g. 1Gi (default 256Mi)."),
]


TABLE_OUTPUTS = ("table", "wide", "json", "yaml")


def output_option(outputs: tuple[str, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-o", "--output", type=click.Choice(outputs), expose_value=False,
                        callback=_store("output"), help="Output format.")


def global_options(func: Callable[..., Any] | None = None, *,
                   outputs: tuple[str, ...] = TABLE_OUTPUTS) -> Any:
    """kubectl's flags on a command; `outputs`: the -o values it prints (its help lists
    them, and any other is refused while parsing, like any bad flag value)."""
    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(GLOBAL_OPTIONS):
            command = (option or output_option(outputs))(command)
        return command

    return apply(func) if func is not None else apply


def all_namespaces_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-A", "--all-namespaces", is_flag=True, expose_value=False,
                        callback=_store("all_namespaces"),
                        help="Across all namespaces.")(func)


def concurrency_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--concurrency", type=click.IntRange(1, 64), expose_value=False,
                        callback=_store("concurrency"),
                        help="Proxies queried at once (default 8).")(func)


PORT = click.IntRange(1, 65535)


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange lets `nan` through (every comparison with it is false)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number
TAIL = click.IntRange(1, 1_000_000)


def status_codes_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """`503`, `5xx`, `4xx,503`: checked before any log is read."""
    if value is None:
        return None
    for part in str(value).split(","):
        part = part.strip().lower()
        if part.endswith("xx") and len(part) == 3 and part[0] in "12345":
            continue
        if part.isascii() and part.isdecimal() and (int(part) == 0 or 100 <= int(part) <= 599):
            continue
        raise click.BadParameter(f"{part!r} is not a status code (503, 5xx, 0 for no response)")
    return value


def response_flags_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """`UC,UF`: Envoy's short response flags, checked up front (case does not matter)."""
    if value is None:
        return None
    from kubectl_meshdebug.envoy.flags import FLAGS, split_flags

    value = str(value).upper()
    unknown = [f for f in split_flags(value) if f not in FLAGS]
    if unknown:
        raise click.BadParameter(f"unknown response flag {unknown[0]!r}; Envoy's are "
                                 + ",".join(sorted(FLAGS)))
    return value


def call_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """What why-503 and path read: the server pods, the logs, how many at once."""
    for option in reversed([
        click.option("--server", "servers", multiple=True, metavar="POD",
                     help="Read this server pod's sidecar (default: every pod behind the "
                     "Service)."),
        click.option("--logs", is_flag=True,
                     help="Read the last lines of the istio-proxy logs through the API server."),
        click.option("--log-file", "log_files", multiple=True, metavar="[[NS/]POD=]FILE",
                     help="A saved istio-proxy log (- for stdin): the client's, or POD='s "
                     "(a server); a pod off the call's path is set aside with a note."),
        click.option("--tail", default=500, show_default=True, type=TAIL,
                     help="Log lines to read with --logs."),
        concurrency_option,
    ]):
        command = option(command)
    return command


ascii_option = click.option("--ascii", "ascii_only", is_flag=True,
                            help="Draw the path with plain ASCII characters.")
