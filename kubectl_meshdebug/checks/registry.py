"""Every check declares its id, title, the object kinds it reads, and where it runs.

`audit` runs the checks that need only objects; `why-503` runs the ones that also read
proxies. Declared inputs let a runner read only the kinds its checks need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from kubectl_meshdebug.checks.finding import Finding


@dataclass(frozen=True)
class CheckInfo:
    id: str
    title: str
    kinds: tuple[str, ...]
    audit: bool  # runs on objects alone (audit); else only within why-503


CATALOGUE: dict[str, CheckInfo] = {}
AUDIT_FUNCS: dict[str, Callable[..., list[Finding]]] = {}


def register(info: CheckInfo) -> CheckInfo:
    CATALOGUE[info.id] = info
    return info


def audit_check(info: CheckInfo) -> Callable[[Callable[..., list[Finding]]],
                                             Callable[..., list[Finding]]]:
    register(info)

    def wrap(func: Callable[..., list[Finding]]) -> Callable[..., list[Finding]]:
        AUDIT_FUNCS[info.id] = func
        return func

    return wrap


RUNTIME_FUNCS: dict[str, Callable[..., list[Finding]]] = {}


def runtime_check(info: CheckInfo) -> Callable[[Callable[..., list[Finding]]],
                                               Callable[..., list[Finding]]]:
    """A why-503 check: reads proxies and objects through a Why503Context."""
    if info.id not in CATALOGUE:
        register(info)

    def wrap(func: Callable[..., list[Finding]]) -> Callable[..., list[Finding]]:
        RUNTIME_FUNCS[info.id] = func
        return func

    return wrap
