"""Helpers the commands share: the Runtime for a click context, dump loading."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from kubectl_meshdebug.cli.options import settings
from kubectl_meshdebug.cli.runtime import Runtime
from kubectl_meshdebug.envoy.config_dump import ConfigDump, ConfigDumpError
from kubectl_meshdebug.errors import UsageError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


TABLE_OUTPUTS = ("table", "wide", "json", "yaml")


def runtime(ctx: click.Context, outputs: tuple[str, ...] = TABLE_OUTPUTS) -> Runtime:
    """The command's Runtime (one per invocation); refuses -o values the command lacks."""
    root = ctx.find_root()
    rt = root.meta.get("meshdebug.runtime")
    if rt is None:
        rt = Runtime(settings(ctx))
        root.meta["meshdebug.runtime"] = rt
    rt.require_output(outputs)
    return rt


def read_json_file(path: str, what: str) -> Any:
    """A JSON file or `-`, with one-line errors for missing, empty, binary or truncated input."""
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as fh:
                raw = fh.read()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from exc
    if not raw.strip():
        raise UsageError(f"{what} {path} is empty")
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not JSON text (binary data)") from exc
    except ValueError as exc:
        raise UsageError(f"{what} {path} is not valid JSON: {exc}") from exc


def load_dump(path: str) -> ConfigDump:
    doc = read_json_file(path, "--dump")
    try:
        return ConfigDump.from_json(doc)
    except ConfigDumpError as exc:
        hint = ""
        if isinstance(doc, dict) and "cluster_statuses" in doc:
            hint = "this is /clusters output; save /config_dump instead"
        raise UsageError(f"--dump {path}: {exc}", hint=hint) from exc


def read_text_file(path: str, what: str) -> str:
    """A text file or `-` (stdin), with one-line errors."""
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from exc
    if b"\0" in raw[:8192]:
        raise UsageError(f"{what} {path}: binary file, not a log")
    return raw.decode("utf-8", "replace")
