"""ClusterState: the Kubernetes and Istio objects a command needs, live or from files.

Each kind is read once per command and only when asked for. Objects are plain dicts in
the shape `kubectl get -o json` prints, whichever the source, so the mesh layer never
knows where they came from.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from kubectl_meshdebug.kube.kinds import KINDS

Obj = dict[str, Any]


class Source(Protocol):
    live: bool

    def list(self, kind: str) -> list[Obj]: ...


class ManifestSource:
    """Objects from -f/--manifests files; namespace-less objects get the default namespace."""

    live = False

    def __init__(self, objects: list[Obj], default_namespace: str = "default") -> None:
        self._by_kind: dict[str, list[Obj]] = {}
        for obj in objects:
            kind = obj.get("kind", "")
            spec = KINDS.get(kind)
            meta = obj.setdefault("metadata", {})
            if spec is not None and spec.namespaced and not meta.get("namespace"):
                meta["namespace"] = default_namespace
            self._by_kind.setdefault(kind, []).append(obj)

    def list(self, kind: str) -> list[Obj]:
        return list(self._by_kind.get(kind, []))

    def kinds(self) -> list[str]:
        return sorted(self._by_kind)


class ClusterState:
    """Cached access to objects by kind, with optional namespace scoping for live reads."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._cache: dict[str, list[Obj]] = {}
        self._lock = threading.Lock()
        self.missing_kinds: set[str] = set()

    @property
    def live(self) -> bool:
        return self.source.live

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        with self._lock:
            if kind not in self._cache:
                self._cache[kind] = self.source.list(kind)
                if getattr(self.source, "missing", None) and kind in self.source.missing:  # type: ignore[attr-defined]
                    self.missing_kinds.add(kind)
        objects = self._cache[kind]
        if namespace is None:
            return objects
        return [o for o in objects if o.get("metadata", {}).get("namespace") == namespace]

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        for obj in self.list(kind, namespace):
            if obj.get("metadata", {}).get("name") == name:
                return obj
        return None

    def names(self, kind: str, namespace: str | None) -> list[str]:
        return [o["metadata"].get("name", "") for o in self.list(kind, namespace)]

    def prefetch(self, kinds: list[str]) -> None:
        """Read several kinds concurrently (live) so a command waits for the slowest once."""
        from concurrent.futures import ThreadPoolExecutor

        todo = [k for k in kinds if k not in self._cache]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            list(pool.map(lambda k: self.list(k), todo))


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def labels(obj: Obj) -> dict[str, str]:
    return dict(meta(obj).get("labels") or {})


def annotations(obj: Obj) -> dict[str, str]:
    return dict(meta(obj).get("annotations") or {})


def ref(obj: Obj) -> str:
    """`Kind ns/name`, the way findings name their evidence."""
    m = meta(obj)
    ns = m.get("namespace")
    return f"{obj.get('kind', '')} {ns + '/' if ns else ''}{m.get('name', '')}"


def label_selector_matches(selector: dict[str, Any] | None, target: dict[str, str]) -> bool:
    """A metav1.LabelSelector with matchLabels and matchExpressions; empty matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if target.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in target
        if op == "In" and (not present or target[key] not in values):
            return False
        if op == "NotIn" and present and target[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True
