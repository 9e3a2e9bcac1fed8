"""Read Kubernetes objects from files, folders or stdin, as `kubectl get -o yaml` writes them.

YAML or JSON; single objects, `List`s and multi-document files. Anything that is not a
Kubernetes object (no kind or apiVersion) is an input error naming the file and document.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.inputs import read_text

_SUFFIXES = (".yaml", ".yml", ".json")


def _expand(paths: Iterable[str]) -> list[str]:
    files: list[str] = []
    for path in paths:
        if path == "-":
            files.append(path)
        elif os.path.isdir(path):
            for root, _dirs, names in sorted(os.walk(path)):
                files.extend(
                    os.path.join(root, n) for n in sorted(names) if n.endswith(_SUFFIXES)
                )
        elif os.path.exists(path):
            files.append(path)
        else:
            raise UsageError(f"-f {path}: no such file or directory")
    return files


def _read(path: str, max_bytes: int | None) -> str:
    return read_text(path, "-f", "YAML or JSON", strict=True, max_bytes=max_bytes)


def parse_documents(text: str, source: str) -> list[Any]:
    """JSON first (fast, and what `kubectl get -o json` writes), YAML otherwise."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(text)
            return doc if isinstance(doc, list) else [doc]
        except RecursionError as exc:
            raise UsageError(f"-f {source}: nested too deeply to be a Kubernetes object") \
                from exc
        except ValueError:
            pass
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except RecursionError as exc:
        raise UsageError(f"-f {source}: nested too deeply to be a Kubernetes object") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"-f {source}:{where} not valid YAML or JSON: {problem}") from exc


def flatten(doc: Any, source: str, index: int) -> list[dict[str, Any]]:
    if not isinstance(doc, dict):
        raise UsageError(
            f"-f {source}: document {index + 1} is a {type(doc).__name__}, not a Kubernetes object"
        )
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        out: list[dict[str, Any]] = []
        for item in doc["items"]:
            out.extend(flatten(item, source, index))
        return out
    if not isinstance(kind, str) or not doc.get("apiVersion") or not isinstance(
        doc.get("metadata"), dict
    ):
        raise UsageError(
            f"-f {source}: document {index + 1} is not a Kubernetes object "
            "(needs apiVersion, kind and metadata)"
        )
    return [doc]


class Malformed:
    """An object whose fields have the wrong types, and where it came from."""

    def __init__(self, obj: dict[str, Any], problems: list[str], source: str) -> None:
        self.obj, self.problems, self.source = obj, problems, source

    def one_line(self) -> str:
        from kubectl_meshdebug.kube.schema import describe

        return f"-f {self.source}: {describe(self.obj)}: {'; '.join(self.problems[:2])}"


def load_checked(paths: Iterable[str], max_bytes: int | None = None
                 ) -> tuple[list[dict[str, Any]], list[Malformed]]:
    """(well-typed objects, malformed ones) of the files, read through kube/schema.py."""
    from kubectl_meshdebug.kube.schema import check_object, drop_nulls

    good: list[dict[str, Any]] = []
    bad: list[Malformed] = []
    for path in _expand(paths):
        source = "stdin" if path == "-" else path
        for i, doc in enumerate(parse_documents(_read(path, max_bytes), source)):
            for obj in flatten(doc, source, i):
                found = check_object(drop_nulls(obj))
                if found:
                    bad.append(Malformed(obj, found, source))
                else:
                    good.append(obj)
    return good, bad


def load_manifests(paths: Iterable[str], max_bytes: int | None = None) -> list[dict[str, Any]]:
    """The objects of the files; a wrongly typed one is a usage error naming it."""
    good, bad = load_checked(paths, max_bytes)
    if bad:
        raise UsageError(bad[0].one_line())
    return good
