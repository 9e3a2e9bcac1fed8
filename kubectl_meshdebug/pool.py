"""Bounded concurrency for sweeps: results in input order, every failure kept with its item.

One helper for the whole tool (many proxies in `sync -A`, several admin calls for one
proxy in why-503). A pool started inside another pool's worker runs its work in that
worker, one item after the other: on a 2-core machine nested pools only add threads and
memory, never speed. Progress is counted under a lock and shown only on a terminal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TextIO, TypeVar

from kubectl_meshdebug.errors import BadAnswerError, MeshdebugError

T = TypeVar("T")
R = TypeVar("R")

_inside = threading.local()


class Progress:
    """`LABEL 3/50` redrawn on one line of a terminal; silent anywhere else."""

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.done = 0
        self._lock = threading.Lock()
        try:
            self.shown = stream.isatty() and total > 1
        except (AttributeError, ValueError):
            self.shown = False

    def step(self) -> None:
        with self._lock:
            self.done += 1
            if self.shown:
                self.stream.write(f"\r{self.label} {self.done}/{self.total}")
                self.stream.flush()

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (len(self.label) + 2 * len(str(self.total)) + 2) + "\r")
            self.stream.flush()


def as_error(exc: BaseException) -> MeshdebugError:
    """A failure of one item, as the error the user sees on that item's row."""
    if isinstance(exc, MeshdebugError):
        return exc
    return BadAnswerError(f"could not read the answer: {exc.__class__.__name__}: {exc}")


def run_all(items: Sequence[T], work: Callable[[T], R], *, concurrency: int = 8,
            progress: Progress | None = None) -> list[R | MeshdebugError]:
    """`work(item)` for every item, at most `concurrency` at once.

    Any exception stays with its item (as a MeshdebugError in its place in the result),
    so one faulty proxy never ends a sweep; KeyboardInterrupt still ends it.
    """

    def one(item: T) -> R | MeshdebugError:
        try:
            return work(item)
        except Exception as exc:  # noqa: BLE001 - isolate every item's failure
            return as_error(exc)
        finally:
            if progress is not None:
                progress.step()

    nested = getattr(_inside, "active", False)
    if nested or concurrency <= 1 or len(items) <= 1:
        results = [one(item) for item in items]
    else:
        def worker(item: T) -> R | MeshdebugError:
            _inside.active = True
            try:
                return one(item)
            finally:
                _inside.active = False

        with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
            results = list(pool.map(worker, items))
    if progress is not None:
        progress.finish()
    return results
