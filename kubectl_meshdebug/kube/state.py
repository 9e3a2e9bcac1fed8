"""ClusterState: the Kubernetes and Istio objects a command needs, live or from files.

Each kind is read once per command and only when asked for. Objects are plain dicts in
the shape `kubectl get -o json` prints, whichever the source, so the mesh layer never
knows where they came from.

A user whose rights end at some namespaces cannot list cluster-wide. Then each kind is
read namespace by namespace, for the namespaces the command is about (its scope), and
what could not be read is recorded, so that a command can say how that limits its
verdict instead of stopping.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from kubectl_meshdebug.errors import MeshdebugError
from kubectl_meshdebug.kube.kinds import KINDS

Obj = dict[str, Any]


class Forbidden(MeshdebugError):
    """RBAC refused a list; the state falls back to narrower reads."""


class Source(Protocol):
    live: bool

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]: ...


class ManifestSource:
    """Objects from -f/--manifests files; namespace-less objects get the default namespace."""

    live = False

    def __init__(self, objects: list[Obj], default_namespace: str = "default") -> None:
        self._by_kind: dict[str, list[Obj]] = {}
        self.missing: set[str] = set()
        for obj in objects:
            kind = obj.get("kind", "")
            spec = KINDS.get(kind)
            meta = obj.get("metadata")
            if not isinstance(meta, dict):
                meta = obj["metadata"] = {}
            if spec is not None and spec.namespaced and not meta.get("namespace"):
                meta["namespace"] = default_namespace
            if spec is not None and spec.metadata_only:  # a Secret: never keep its data
                obj = {"apiVersion": obj.get("apiVersion", "v1"), "kind": kind,
                       "metadata": meta}
            self._by_kind.setdefault(kind, []).append(obj)

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        return list(self._by_kind.get(kind, []))

    def kinds(self) -> list[str]:
        return sorted(self._by_kind)


ISTIO_NAMESPACE = "istio-system"  # Istio's default for the control plane's namespace


class ClusterState:
    """Cached access to objects by kind (and by namespace where RBAC insists)."""

    def __init__(self, source: Source, scope: list[str] | None = None,
                 root: str | None = None, root_kinds: set[str] | None = None) -> None:
        self.source = source
        self.scope: list[str] = list(scope or [])
        # The root namespace holds mesh-wide config: read there too, but only those kinds.
        self.root = root
        self.root_kinds = set(root_kinds or ())
        self._whole: dict[str, list[Obj]] = {}  # kind -> every object (cluster-wide read)
        self._by_ns: dict[tuple[str, str], list[Obj]] = {}
        self._forbidden_wide: set[str] = set()
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()
        self.missing_kinds: set[str] = set()
        self.unreadable: dict[tuple[str, str | None], str] = {}  # (kind, ns) -> why

    @property
    def live(self) -> bool:
        return self.source.live

    def widen(self, *namespaces: str | None) -> None:
        """Add namespaces the command is about (read when cluster-wide lists are refused)."""
        for ns in namespaces:
            if ns and ns not in self.scope:
                self.scope.append(ns)

    def _lock(self, key: Any) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _read_wide(self, kind: str) -> list[Obj] | None:
        """Every object of a kind, or None when RBAC refuses the cluster-wide list."""
        if kind in self._whole:
            return self._whole[kind]
        if kind in self._forbidden_wide:
            return None
        with self._lock(kind):
            if kind in self._whole:
                return self._whole[kind]
            if kind in self._forbidden_wide:
                return None
            try:
                items = self.source.list(kind)
            except Forbidden as exc:
                self._forbidden_wide.add(kind)
                spec = KINDS.get(kind)
                if spec is not None and not spec.namespaced:
                    self.unreadable[(kind, None)] = exc.one_line()
                return None
            if kind in getattr(self.source, "missing", set()):
                self.missing_kinds.add(kind)
            self._whole[kind] = items
            return items

    def _read_ns(self, kind: str, namespace: str) -> list[Obj]:
        key = (kind, namespace)
        if key in self._by_ns:
            return self._by_ns[key]
        with self._lock(key):
            if key not in self._by_ns:
                try:
                    self._by_ns[key] = self.source.list(kind, namespace)
                except Forbidden as exc:
                    self.unreadable[key] = exc.one_line()
                    self._by_ns[key] = []
                if kind in getattr(self.source, "missing", set()):
                    self.missing_kinds.add(kind)
            return self._by_ns[key]

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        whole = self._read_wide(kind)
        if whole is not None:
            if namespace is None:
                return whole
            return [o for o in whole if (o.get("metadata") or {}).get("namespace") == namespace]
        spec = KINDS.get(kind)
        if spec is None or not spec.namespaced:
            return []
        if namespace is not None:
            return self._read_ns(kind, namespace)
        out: list[Obj] = []
        namespaces = list(self.scope)
        if self.root and kind in self.root_kinds and self.root not in namespaces:
            namespaces.append(self.root)
        for ns in namespaces:
            out.extend(self._read_ns(kind, ns))
        return out

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        for obj in self.list(kind, namespace):
            if (obj.get("metadata") or {}).get("name") == name:
                return obj
        return None

    def names(self, kind: str, namespace: str | None) -> list[str]:
        return [str((o.get("metadata") or {}).get("name", "")) for o in self.list(kind, namespace)]

    def prefetch(self, kinds: list[str] | set[str]) -> None:
        """Read several kinds at once (live), so a command waits for the slowest once."""
        from kubectl_meshdebug.pool import run_all

        todo = sorted(k for k in kinds if k not in self._whole)
        if not todo or not self.live:
            return
        results = run_all(todo, self.list, concurrency=8)
        for result in results:
            if isinstance(result, MeshdebugError):
                raise result

    def limits(self) -> list[str]:
        """What could not be read, one line each, for the command's notes."""
        out = []
        for (kind, ns), _why in sorted(self.unreadable.items(), key=lambda kv: (kv[0][0],
                                                                             kv[0][1] or "")):
            where = f"in namespace {ns}" if ns else "cluster-wide"
            out.append(f"{KINDS[kind].plural} {where}" if kind in KINDS else f"{kind} {where}")
        return out

    def narrowed(self) -> list[str]:
        """Kinds read namespace by namespace because a cluster-wide list was refused."""
        return sorted(k for k in self._forbidden_wide if KINDS.get(k) and KINDS[k].namespaced)

    @property
    def istio_namespace(self) -> str:
        """The control plane's namespace (--istio-namespace): the state's root."""
        return self.root or ISTIO_NAMESPACE

    def readable(self, kind: str, namespace: str | None) -> bool:
        """False when RBAC kept this kind (in this namespace) from us."""
        return (kind, namespace) not in self.unreadable and (kind, None) not in self.unreadable


def meta(obj: Obj | None) -> Obj:
    value = (obj or {}).get("metadata")
    return value if isinstance(value, dict) else {}


def as_dict(value: Any) -> Obj:
    """VALUE when it is a JSON object, else {}: manifests and dumps are outside data, and a
    field of the wrong type is read as absent rather than raised on."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """VALUE when it is a JSON array, else [] (see as_dict)."""
    return value if isinstance(value, list) else []


def full_name(obj: Obj | None) -> str:
    """`namespace/name`, the way findings and tables name an object without its kind."""
    m = meta(obj)
    return f"{m.get('namespace')}/{m.get('name')}"


def labels(obj: Obj | None) -> dict[str, str]:
    value = meta(obj).get("labels")
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def annotations(obj: Obj | None) -> dict[str, str]:
    value = meta(obj).get("annotations")
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def ref(obj: Obj | None) -> str:
    """`Kind ns/name`, the way findings name their evidence."""
    m = meta(obj)
    ns = m.get("namespace")
    return f"{(obj or {}).get('kind', '')} {str(ns) + '/' if ns else ''}{m.get('name', '')}"


def selects(selector: dict[str, str], obj: Obj | None) -> bool:
    """Whether OBJ's labels carry every label of a matchLabels-style SELECTOR (an Istio
    workload selector, a Gateway's selector): empty selects everything."""
    return label_selector_matches({"matchLabels": selector}, labels(obj))


def label_selector_matches(selector: dict[str, Any] | None, target: dict[str, str]) -> bool:
    """A metav1.LabelSelector with matchLabels and matchExpressions; empty matches everything."""
    if not selector:
        return True
    if not isinstance(selector, dict):
        return False
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, dict):
        return False
    for key, value in match_labels.items():
        if target.get(str(key)) != str(value):
            return False
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        return False
    for expr in expressions:
        if not isinstance(expr, dict):
            return False
        key, op = str(expr.get("key")), expr.get("operator")
        values = [str(v) for v in expr.get("values") or [] if not isinstance(v, (dict, list))]
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
