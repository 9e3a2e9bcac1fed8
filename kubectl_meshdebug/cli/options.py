"""kubectl's global flags, accepted both before and after the command name.

kubectl refuses `kubectl -n foo meshdebug ...`, so users write `kubectl meshdebug loglevel
POD -n foo`; every command therefore carries the same options. Values land in one
Settings object on the root context; a flag given after the command wins.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from kubectl_meshdebug.render.formats import OUTPUTS


class Settings:
    """The global flags' values (a plain class: dataclasses cost every start-up)."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 namespace: str | None = None, all_namespaces: bool = False,
                 request_timeout: float = 30.0, output: str = "table", verbose: int = 0,
                 no_color: bool = False, manifests: list[str] | None = None,
                 admin_urls: list[str] | None = None, transport: str = "exec",
                 container: str = "istio-proxy", admin_port: int = 15000,
                 concurrency: int = 8) -> None:
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


def _parse_timeout(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return value
    text = str(value).strip().lower()
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            seconds = float(text[: -len(unit)]) * units[unit]
            break
    else:
        if not text.replace(".", "", 1).isdigit():
            raise click.BadParameter(f"{value!r} is not a duration like 30s, 1m or 500ms")
        seconds = float(text)
    if seconds <= 0:
        seconds = 3600.0  # kubectl: 0 means no timeout
    return _store("request_timeout")(ctx, param, seconds)


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
    click.option("-o", "--output", type=click.Choice(OUTPUTS), expose_value=False,
                 callback=_store("output"), help="Output format."),
    click.option("-v", "--verbose", count=True, expose_value=False, callback=_store("verbose"),
                 help="More detail, including on errors."),
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
]


def global_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(GLOBAL_OPTIONS):
        func = option(func)
    return func


def all_namespaces_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-A", "--all-namespaces", is_flag=True, expose_value=False,
                        callback=_store("all_namespaces"),
                        help="Across all namespaces.")(func)


def concurrency_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--concurrency", type=click.IntRange(1, 64), expose_value=False,
                        callback=_store("concurrency"),
                        help="Proxies queried at once (default 8).")(func)
