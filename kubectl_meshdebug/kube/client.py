"""Load kubeconfig (or in-cluster config) and build API objects, importing the client lazily.

`kubectl-meshdebug --help` must not pay for importing the kubernetes package, so nothing
at module level here imports it.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from kubectl_meshdebug.errors import UnreachableError, UsageError


@dataclass
class KubeConfig:
    kubeconfig: str | None = None
    context: str | None = None
    request_timeout: float = 30.0


def _quiet_urllib3() -> None:
    """macOS's system python links LibreSSL; urllib3's warning about it helps nobody here."""
    warnings.filterwarnings("ignore", message=".*LibreSSL.*")
    warnings.filterwarnings("ignore", message=".*OpenSSL 1.1.1.*")


def load_configuration(cfg: KubeConfig) -> Any:
    """The client Configuration for the chosen context; never writes the user's kubeconfig.

    Client certificates, bearer tokens and exec credential plugins all come through
    the kubernetes client's own kubeconfig loader, as kubectl reads them.
    """
    _quiet_urllib3()
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if cfg.kubeconfig or os.environ.get("KUBECONFIG") or os.path.exists(
            os.path.expanduser("~/.kube/config")
        ) or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_kube_config(
                config_file=cfg.kubeconfig,
                context=cfg.context,
                client_configuration=configuration,
                persist_config=False,
            )
        else:
            config.load_incluster_config(client_configuration=configuration)
    except ConfigException as exc:
        raise UsageError(
            f"no usable kubeconfig: {exc}",
            hint="pass --kubeconfig/--context, or use -f/--manifests and --admin-url offline",
        ) from exc
    except FileNotFoundError as exc:
        raise UsageError(f"kubeconfig not found: {exc.filename}") from exc
    except (AttributeError, TypeError, KeyError, ValueError) as exc:  # wrongly shaped YAML
        raise UsageError(f"kubeconfig is malformed: {exc.__class__.__name__}: "
                         f"{' '.join(str(exc).split())[:200]}",
                         hint="check it with: kubectl config view") from exc
    except Exception as exc:  # exec plugin failures, unreadable credentials
        raise UnreachableError(f"could not load kubeconfig: {' '.join(str(exc).split())}") \
            from exc
    # No retry of a timed-out read: a frozen API server must cost one timeout, not two.
    configuration.retries = 0
    return configuration


class Connection:
    """The way to the API server: one Configuration, a shared client for REST calls, and a
    fresh client for every exec or port-forward stream.

    `kubernetes.stream.stream()` swaps the `request` method of the ApiClient it is given
    for the length of the call; a REST call made meanwhile on the same client (by
    another thread) would go out as a websocket. Streams therefore never share a client.
    """

    def __init__(self, cfg: KubeConfig) -> None:
        self.cfg = cfg
        self._configuration: Any = None
        self._api_client: Any = None
        self._lock = threading.Lock()
        # Once the API server failed to answer in time, every later call fails at once
        # with the same error: a command ends within one --request-timeout, not many.
        self.down: UnreachableError | None = None

    def check(self) -> None:
        if self.down is not None:
            raise self.down

    def mark_down(self, error: UnreachableError) -> UnreachableError:
        if self.down is None:
            self.down = error
        return error

    @property
    def timeout(self) -> tuple[float, float]:
        """`_request_timeout` as the client honours it: a (connect, read) pair. A bare
        float is silently ignored by kubernetes<36, so every call passes this."""
        t = float(self.cfg.request_timeout)
        return (t, t)

    def configuration(self) -> Any:
        with self._lock:
            if self._configuration is None:
                self._configuration = load_configuration(self.cfg)
            return self._configuration

    def api_client(self) -> Any:
        configuration = self.configuration()
        with self._lock:
            if self._api_client is None:
                from kubernetes import client

                self._api_client = client.ApiClient(configuration)
            return self._api_client

    def stream_api(self) -> Any:
        """A CoreV1Api on a client of its own, for one exec or port-forward."""
        from kubernetes import client

        return client.CoreV1Api(client.ApiClient(self.configuration()))


def _kubeconfig_paths(cfg: KubeConfig) -> list[str]:
    if cfg.kubeconfig:
        return [cfg.kubeconfig]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]


def current_namespace(cfg: KubeConfig) -> str:
    """The context's namespace, as kubectl uses it when -n is not given.

    Read with PyYAML rather than the kubernetes package so that commands which never
    touch the API server (--admin-url, --dump) stay fast. With several KUBECONFIG
    files, the first `current-context` and the first context of that name win, as in kubectl.
    """
    import yaml

    docs = []
    for path in _kubeconfig_paths(cfg):
        try:
            with open(path, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(doc, dict):
            docs.append(doc)
    if not docs:
        sa_ns = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
        if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(sa_ns):
            with open(sa_ns, encoding="utf-8") as fh:
                return fh.read().strip() or "default"
        return "default"
    name = cfg.context or next((d.get("current-context") for d in docs if d.get("current-context")), None)
    for doc in docs:
        contexts = doc.get("contexts")
        for ctx in contexts if isinstance(contexts, list) else []:
            if isinstance(ctx, dict) and ctx.get("name") == name:
                inner = ctx.get("context")
                namespace = inner.get("namespace") if isinstance(inner, dict) else None
                return namespace if isinstance(namespace, str) and namespace else "default"
    return "default"
