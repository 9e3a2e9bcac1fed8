"""Which way reaches a pod's admin port: a --admin-url the user gave, else exec or
port-forward through the API server (--transport; exec by default, see
docs/performance.md for the measurement behind that default)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.kube.targets import check_name
from kubectl_meshdebug.transport.base import DEFAULT_MAX_BYTES, Transport

TRANSPORTS = ("exec", "port-forward")
DEFAULT_TRANSPORT = "exec"


class AdminUrls:
    """The `--admin-url [NS/]POD=URL` table.

    `NS/POD=URL` matches that namespace; `POD=URL` matches any. Without -n, a pod named in
    exactly one `NS/POD` entry takes that entry's namespace.
    """

    def __init__(self, values: Iterable[str]) -> None:
        from kubectl_meshdebug.transport.direct import parse_admin_url

        self.urls: dict[tuple[str | None, str], str] = {}
        for value in values:
            key, sep, url = value.partition("=")
            if not sep or not key or not url:
                raise UsageError(f"--admin-url {value!r} is not [NS/]POD=URL")
            ns, slash, pod = key.rpartition("/")
            check_name(pod, "--admin-url pod name")
            if slash:
                check_name(ns, "--admin-url namespace")
            parse_admin_url(url)  # a bad URL is a usage error now, not a failure later
            self.urls[(ns if slash else None, pod)] = url

    def __bool__(self) -> bool:
        return bool(self.urls)

    def lookup(self, namespace: str, name: str, namespace_given: bool) -> tuple[str, str] | None:
        """(namespace, url) for this pod, if the user gave one."""
        exact = self.urls.get((namespace, name))
        if exact is not None:
            return namespace, exact
        if (None, name) in self.urls:
            return namespace, self.urls[(None, name)]
        if not namespace_given:
            named = [(ns, url) for (ns, pod), url in self.urls.items() if pod == name]
            if len(named) == 1 and named[0][0] is not None:
                return str(named[0][0]), named[0][1]
        return None


def direct_transport(url: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Transport:
    from kubectl_meshdebug.transport.direct import DirectTransport

    return DirectTransport(url, max_bytes)


def pod_transport(connection: Any, namespace: str, pod: str, *, kind: str, container: str,
                  port: int, max_bytes: int = DEFAULT_MAX_BYTES) -> Transport:
    """A transport through the API server to `pod`'s admin port."""
    if kind == "port-forward":
        from kubectl_meshdebug.transport.portforward import PortForwardTransport

        return PortForwardTransport(connection, namespace, pod, port, max_bytes)
    from kubectl_meshdebug.transport.exec import ExecTransport

    return ExecTransport(connection, namespace, pod, container, port, max_bytes)
