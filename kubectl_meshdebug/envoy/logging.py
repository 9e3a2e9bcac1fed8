"""Envoy's logger list and levels, and the parsing of `LOGGER:LEVEL` specs."""

from __future__ import annotations

import re

from kubectl_meshdebug.errors import UsageError

LEVELS = ("trace", "debug", "info", "warning", "error", "critical", "off")
# spdlog also accepts "warn"; Envoy prints "warning".
_LEVEL_ALIASES = {"warn": "warning", "err": "error"}

# What an Istio sidecar starts with when the pod sets no annotation
# (pilot-agent --proxyLogLevel=warning --proxyComponentLogLevel=misc:error).
ISTIO_DEFAULT_LEVEL = "warning"
ISTIO_DEFAULT_COMPONENT_LEVELS = "misc:error"


_LOGGER_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-]+):\s*([a-z]+)\s*$")


def parse_loggers(text: str) -> dict[str, str]:
    """`active loggers:\\n  admin: info\\n ...` -> {"admin": "info", ...}; lines that are
    not a logger name and one of Envoy's levels are not loggers."""
    loggers: dict[str, str] = {}
    for line in text.splitlines():
        match = _LOGGER_LINE.match(line)
        if match and match.group(2) in LEVELS:
            loggers[match.group(1)] = match.group(2)
    return loggers


def normalize_level(level: str) -> str:
    level = level.strip().lower()
    level = _LEVEL_ALIASES.get(level, level)
    if level not in LEVELS:
        raise UsageError(
            f"unknown log level {level!r}", hint=f"use one of {', '.join(LEVELS)}"
        )
    return level


def closest(name: str, choices: list[str], n: int = 3) -> list[str]:
    import difflib

    return difflib.get_close_matches(name, choices, n=n, cutoff=0.5)


def parse_level_spec(spec: str, known_loggers: list[str]) -> dict[str, str]:
    """`router:debug,connection:trace` -> {"router": "debug", ...}, checked against the proxy."""
    wanted: dict[str, str] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, level = part.rpartition(":")
        if not sep or not name:
            raise UsageError(f"{part!r} is not LOGGER:LEVEL")
        if name not in known_loggers:
            near = closest(name, known_loggers)
            raise UsageError(
                f"unknown logger {name!r}",
                hint=f"did you mean {', '.join(near)}?" if near else "run `loglevel POD` to list them",
            )
        wanted[name] = normalize_level(level)
    if not wanted:
        raise UsageError("no LOGGER:LEVEL given")
    return wanted


def reset_plan(annotations: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The levels a pod starts with: its annotations if set, else Istio's defaults."""
    level = annotations.get("sidecar.istio.io/logLevel") or ISTIO_DEFAULT_LEVEL
    components = (
        annotations.get("sidecar.istio.io/componentLogLevel") or ISTIO_DEFAULT_COMPONENT_LEVELS
    )
    paths: dict[str, str] = {}
    for part in components.split(","):
        name, sep, lvl = part.strip().rpartition(":")
        if sep and name:
            paths[name] = normalize_level(lvl)
    return normalize_level(level), paths
