"""Typed calls to Envoy's admin API over any transport.

Envoy 1.40 refuses GET on mutating endpoints (/logging, /reset_counters), treats the
/stats filter as an RE2 search, and answers errors with a short text body. Because
pilot-agent hides the HTTP status, errors are recognised from the body too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from kubectl_meshdebug import jsonload
from kubectl_meshdebug.errors import AdminError, BadAnswerError, MeshdebugError, UnreachableError
from kubectl_meshdebug.transport.base import MAX_BATCH, AdminResponse, Transport

# Envoy's error bodies, for transports that cannot see the status code.
_ERROR_BODIES: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"^error: unknown logger name", re.M), 400),
    (re.compile(r"^Invalid re2 regex", re.M), 400),
    (re.compile(r"not found in config dump"), 404),
    (re.compile(r"^Method \w+ not allowed", re.M), 405),
    (re.compile(r"^invalid path\. admin commands are", re.M), 404),
    (re.compile(r"^error: ", re.M), 400),
]

ALL_STAT_TYPES = ("counters", "gauges", "histograms")


class _Planned(BaseException):
    """Stops a call being planned at its first request (BaseException: no `except
    Exception` in a call may take it for a failure)."""


def error_status(response: AdminResponse) -> int | None:
    """The HTTP error status of a response, inferred from the body when unknown."""
    if response.status is not None:
        return response.status if response.status >= 400 else None
    head = response.body[:512].decode("utf-8", "replace")
    for pattern, status in _ERROR_BODIES:
        if pattern.search(head):
            return status
    return None


def _first_line(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "(empty body)"


class AdminClient:
    """One proxy's admin API. Every call raises AdminError on Envoy's error answers.

    A proxy that once failed to answer within the timeout is taken as stalled: later calls
    fail at once with the same error, so that one stuck proxy costs a sweep one timeout,
    not one per call.
    """

    def __init__(self, transport: Transport, timeout: float = 30.0) -> None:
        self.transport = transport
        self.timeout = timeout
        self.stalled: UnreachableError | None = None
        self._planning: list[tuple[str, str]] | None = None
        self._prefetched: dict[tuple[str, str], AdminResponse] = {}

    def prefetch(self, planned: list[Callable[[], Any]]) -> int:
        """Fetch in one round trip what the PLANNED calls will ask for, where the
        transport can batch (exec with curl); returns how many answers were kept.

        Each planned call is run once against a recorder that notes its request and stops
        it there, so the calls keep their own logic (fallbacks, parsing) and run as usual
        afterwards, taking their answers from here. A follow-up request a call makes only
        after seeing an answer (a retry without name_regex) goes out on its own."""
        batch = getattr(self.transport, "request_batch", None)
        if batch is None or self.stalled is not None:
            return 0
        self._planning = []
        try:
            for call in planned:
                try:
                    call()
                except _Planned:
                    pass
                except Exception:  # noqa: BLE001 - it fails again, in its own words, when run
                    continue
            wanted = list(dict.fromkeys(self._planning))
        finally:
            self._planning = None
        gets = [full for method, full in wanted if method == "GET"]
        if len(gets) < 2:
            return 0
        kept = 0
        for start in range(0, len(gets), MAX_BATCH):
            chunk = gets[start:start + MAX_BATCH]
            try:
                answers = batch("GET", chunk, self.timeout)
            except UnreachableError as exc:
                self._note_stall(exc)  # a stalled proxy: the calls fail at once
                return kept
            except MeshdebugError:
                return kept  # the calls, made alone, report it in their own words
            if answers is None:
                return kept
            for full, answer in zip(chunk, answers, strict=True):
                if answer is not None:
                    self._prefetched[("GET", full)] = answer
                    kept += 1
        return kept

    @property
    def describe(self) -> str:
        return self.transport.describe

    def _request(self, method: str, full: str) -> AdminResponse:
        if self._planning is not None:
            if (method, full) not in self._prefetched:
                self._planning.append((method, full))
            raise _Planned()
        answer = self._prefetched.pop((method, full), None)
        if answer is not None:
            return answer
        if self.stalled is not None:
            raise self.stalled
        try:
            return self.transport.request(method, full, self.timeout)
        except UnreachableError as exc:
            self._note_stall(exc)
            raise

    def _note_stall(self, exc: UnreachableError) -> None:
        if "within" in exc.message or "did not finish" in exc.message:
            self.stalled = exc

    def call(self, method: str, path: str, params: dict[str, Any] | None = None) -> bytes:
        query = ""
        if params:
            clean = {k: v for k, v in params.items() if v is not None and v is not False}
            query = "&".join(
                quote(k, safe="") if v is True else urlencode({k: v}, safe=":,")
                for k, v in clean.items()
            )
        full = f"{path}?{query}" if query else path
        response = self._request(method, full)
        if response.status is not None and 300 <= response.status < 400:
            raise BadAnswerError(f"{self.describe} answered {response.status} to {method} "
                                 f"{path}: not Envoy's admin API (a proxy or redirect in the way?)")
        status = error_status(response)
        if status is not None:
            if status == 503 and path == "/ready":
                return response.body
            raise AdminError(
                f"Envoy answered {status} to {method} {path}: {_first_line(response.body)}",
                status=status,
            )
        return response.body

    def call_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        body = self.call("GET", path, params)
        try:
            return jsonload.loads(body)
        except RecursionError as exc:
            raise BadAnswerError(f"{path} from {self.describe} is nested too deeply to be "
                                 "Envoy's JSON") from exc
        except ValueError as exc:
            raise BadAnswerError(
                f"{path} from {self.describe} is not JSON ({len(body)} bytes): {exc}"
            ) from exc

    # logging ---------------------------------------------------------------------
    def loggers(self) -> dict[str, str]:
        """Every logger and its level (POST /logging with no parameters lists them)."""
        from kubectl_meshdebug.envoy.logging import parse_loggers

        loggers = parse_loggers(self.call("POST", "/logging").decode("utf-8", "replace"))
        if not loggers:
            raise BadAnswerError(f"{self.describe} answered POST /logging with no logger list: "
                                 "not Envoy's admin API")
        return loggers

    def _verified(self, wanted: dict[str, str] | None, level: str | None,
                  body: bytes) -> dict[str, str]:
        """The levels after a change, as the proxy reports them; read back when the answer
        did not list them, and a BadAnswerError when the change did not take."""
        from kubectl_meshdebug.envoy.logging import parse_loggers

        after = parse_loggers(body.decode("utf-8", "replace")) or self.loggers()
        expected = wanted or {name: level for name in after if level is not None}
        missed = sorted(k for k, v in expected.items() if after.get(k) != v)
        if missed:
            raise BadAnswerError(
                f"{self.describe} accepted the log level change but {len(missed)} loggers "
                f"did not take it ({', '.join(missed[:3])}{'...' if len(missed) > 3 else ''})")
        return after

    def set_all_levels(self, level: str) -> dict[str, str]:
        body = self.call("POST", "/logging", {"level": level})
        return self._verified(None, level, body)

    def set_levels(self, paths: dict[str, str]) -> dict[str, str]:
        """Set several loggers in one atomic request (`/logging?paths=a:b,c:d`)."""
        spec = ",".join(f"{name}:{level}" for name, level in paths.items())
        body = self.call("POST", "/logging", {"paths": spec})
        return self._verified(paths, None, body)

    # stats -----------------------------------------------------------------------
    def stats_text(
        self,
        filter_re: str | None = None,
        usedonly: bool = False,
        stat_type: str | None = None,
        fmt: str | None = None,
    ) -> str:
        params: dict[str, Any] = {"usedonly": usedonly, "filter": filter_re}
        if stat_type:
            params["type"] = stat_type.capitalize()
        if fmt:
            params["format"] = fmt
        return self.call("GET", "/stats", params).decode("utf-8", "replace")

    def stats(self, filter_re: str | None = None, usedonly: bool = False,
              stat_type: str | None = None) -> list[Any]:
        """Parsed `/stats`; an answer that is not stats text is a BadAnswerError."""
        from kubectl_meshdebug.envoy.stats import parse_stats_answer

        return parse_stats_answer(self.stats_text(filter_re, usedonly, stat_type),
                                  self.describe, bool(filter_re))

    def prometheus_text(self, filter_re: str | None = None) -> str:
        """`/stats/prometheus` (Istio's own metrics live here when its stats filter is on)."""
        return self.call("GET", "/stats/prometheus", {"filter": filter_re}).decode(
            "utf-8", "replace")

    def reset_counters(self) -> None:
        self.call("POST", "/reset_counters")

    # clusters, config dump, server -----------------------------------------------
    def clusters_json(self, filter_re: str | None = None) -> Any:
        return self.call_json("/clusters", {"format": "json", "filter": filter_re})

    def cluster_statuses(self, filter_re: str | None = None) -> dict[str, Any]:
        """`/clusters?format=json` by cluster name; any other shape is a BadAnswerError."""
        from kubectl_meshdebug.envoy.clusters_status import parse_clusters_json

        try:
            return parse_clusters_json(self.clusters_json(filter_re))
        except ValueError as exc:
            raise BadAnswerError(f"/clusters from {self.describe}: {exc}") from exc

    def config_dump(
        self,
        resource: str | None = None,
        include_eds: bool = False,
        name_regex: str | None = None,
        mask: str | None = None,
    ) -> Any:
        params = {
            "resource": resource, "include_eds": include_eds, "name_regex": name_regex,
            "mask": mask,
        }
        doc = self.call_json("/config_dump", params)
        if not isinstance(doc, dict) or not isinstance(doc.get("configs", []), list):
            raise BadAnswerError(f"/config_dump from {self.describe} is not a config dump "
                                 f"(a JSON {type(doc).__name__.replace('dict', 'object')})")
        return doc

    def server_info(self) -> Any:
        return self.call_json("/server_info")

    def ready(self) -> tuple[bool, str]:
        """(ready, state text): /ready answers 200 LIVE or 503 PRE_INITIALIZING."""
        response = self._request("GET", "/ready")
        text = response.text.strip()[:200]
        if response.status is not None:
            if response.status not in (200, 503):
                raise BadAnswerError(f"{self.describe} answered {response.status} to GET /ready")
            return response.status == 200, text
        return text == "LIVE", text
