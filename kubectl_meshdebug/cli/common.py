"""Helpers the commands share: the Runtime for a click context, dump loading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from kubectl_meshdebug.cli.options import settings
from kubectl_meshdebug.errors import UsageError
from kubectl_meshdebug.inputs import read_bytes, read_text

if TYPE_CHECKING:  # the layers are imported when a command runs, not for --help
    from kubectl_meshdebug.cli.runtime import Runtime
    from kubectl_meshdebug.envoy.config_dump import ConfigDump

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


T = TypeVar("T")
TABLE_OUTPUTS = ("table", "wide", "json", "yaml")


def runtime(ctx: click.Context, outputs: tuple[str, ...] = TABLE_OUTPUTS) -> Runtime:
    """The command's Runtime (one per invocation); refuses -o values the command lacks."""
    from kubectl_meshdebug.cli.runtime import Runtime

    root = ctx.find_root()
    rt = root.meta.get("meshdebug.runtime")
    if rt is None:
        rt = Runtime(settings(ctx))
        root.meta["meshdebug.runtime"] = rt
    rt.require_output(outputs)
    return rt


def dump_bytes(path: str) -> bytes:
    """A saved dump's bytes, refusing what is plainly something else."""
    raw = read_bytes(path, "--dump")
    if not raw.strip():
        raise UsageError(f"--dump {path} is empty")
    if b"::" in raw[:4096] and raw.lstrip()[:1] not in (b"{", b"["):
        raise UsageError(f"--dump {path} is /clusters text output, not a config dump",
                         hint="save /config_dump (kubectl meshdebug config-dump POD --save F)")
    return raw


def load_dump(path: str, parts: list[str] | None = None) -> ConfigDump:
    """A saved config dump, parsing only `parts` (clusters, routes, ...) where it can."""
    from kubectl_meshdebug.envoy.config_dump import load_sections

    raw = dump_bytes(path)
    return _parse_dump(path, raw, lambda: load_sections(raw, set(parts) if parts else None))


def load_dump_document(path: str) -> Any:
    """A saved config dump as plain JSON (for config-dump), checked like load_dump."""
    import json

    from kubectl_meshdebug.envoy.config_dump import ConfigDump

    raw = dump_bytes(path)

    def parse() -> Any:
        doc = json.loads(raw)
        ConfigDump.from_json(doc)
        return doc

    return _parse_dump(path, raw, parse)


def _parse_dump(path: str, raw: bytes, parse: Callable[[], T]) -> T:
    """Run `parse`, turning a bad dump into one line (with a hint where the file is
    something else)."""
    from kubectl_meshdebug.envoy.config_dump import ConfigDumpError

    try:
        return parse()
    except UnicodeDecodeError as exc:
        raise UsageError(f"--dump {path} is not JSON text (binary data)") from exc
    except ConfigDumpError as exc:
        hint = ("this is /clusters output; save /config_dump instead"
                if b"cluster_statuses" in raw[:2048] else "")
        raise UsageError(f"--dump {path}: {exc}", hint=hint) from exc
    except RecursionError as exc:
        raise UsageError(f"--dump {path} is nested too deeply to be a config dump") from exc
    except ValueError as exc:
        raise UsageError(f"--dump {path} is not valid JSON: {exc}") from exc


def read_text_file(path: str, what: str) -> str:
    """A log (or other text) file or `-`, with one-line errors."""
    return read_text(path, what, "a log")
