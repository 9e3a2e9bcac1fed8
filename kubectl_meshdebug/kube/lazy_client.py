"""The kubernetes client without importing its 800 generated modules on every start.

`import kubernetes` runs the package's __init__, which imports every API class (65
modules) and every model class (721 modules): 0.3 s of a 0.6 s `sync -A` on the tests'
cluster, where kubectl itself takes 0.1 s. meshdebug uses a handful of names
(Configuration, ApiClient, CoreV1Api, the config loader, the stream helpers) and reads
every answer as raw JSON, never as model objects.

`prepare()` therefore registers the packages `kubernetes`, `kubernetes.client`,
`kubernetes.client.api` and `kubernetes.client.models` as modules whose names resolve on
first use: a submodule is imported when named, a known class from its own module, and
anything else runs the package's real __init__ into the module, which then holds
exactly what the real package holds (slower, and always correct, whatever version of
the client is installed).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

# name -> module that defines it, per package
_CLASSES: dict[str, dict[str, str]] = {
    "kubernetes.client": {
        "ApiClient": "kubernetes.client.api_client",
        "Configuration": "kubernetes.client.configuration",
        "CoreV1Api": "kubernetes.client.api.core_v1_api",
        "ApiException": "kubernetes.client.exceptions",
        "ApiValueError": "kubernetes.client.exceptions",
        "ApiTypeError": "kubernetes.client.exceptions",
        "ApiKeyError": "kubernetes.client.exceptions",
        "OpenApiException": "kubernetes.client.exceptions",
    },
    "kubernetes.client.api": {"CoreV1Api": "kubernetes.client.api.core_v1_api"},
}
_PACKAGES = ("kubernetes", "kubernetes.client", "kubernetes.client.api",
             "kubernetes.client.models")
_LOCK = threading.RLock()


def prepare() -> None:
    """Register the lazy packages, unless the client is already imported (or is not
    installed, or is laid out in a way this does not know: then imports stay as usual)."""
    with _LOCK:
        if any(name in sys.modules for name in _PACKAGES):
            return
        made: list[str] = []
        try:
            for name in _PACKAGES:
                spec = importlib.util.find_spec(name)
                if spec is None or spec.loader is None or not spec.submodule_search_locations:
                    raise ImportError(name)
                module = importlib.util.module_from_spec(spec)
                module.__getattr__ = _resolver(module, spec)  # type: ignore[method-assign]
                sys.modules[name] = module
                made.append(name)
                parent, _, child = name.rpartition(".")
                if parent:
                    setattr(sys.modules[parent], child, module)
        except (ImportError, ValueError, AttributeError):
            for name in made:
                sys.modules.pop(name, None)


def _resolver(module: types.ModuleType, spec: Any) -> Any:
    package = module.__name__
    loaded = [False]

    def resolve(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        with _LOCK:
            if name in module.__dict__:
                return module.__dict__[name]
            where = _CLASSES.get(package, {}).get(name)
            if where is not None:
                value = getattr(importlib.import_module(where), name)
            elif importlib.util.find_spec(f"{package}.{name}") is not None:
                value = importlib.import_module(f"{package}.{name}")
            elif not loaded[0]:
                loaded[0] = True
                spec.loader.exec_module(module)  # the real __init__, into this module
                if name in module.__dict__:
                    return module.__dict__[name]
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            else:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            setattr(module, name, value)
            return value

    return resolve
