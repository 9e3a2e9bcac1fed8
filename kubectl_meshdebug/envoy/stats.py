"""`/stats` text output: `name: value` lines; histograms carry quantile summaries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from kubectl_meshdebug.errors import BadAnswerError, UsageError

StatValue = Union[int, str]


@dataclass
class Stat:
    name: str
    value: StatValue

    @property
    def is_histogram(self) -> bool:
        return isinstance(self.value, str)


# Stat names are dotted tokens (cluster names bring `|`, `~`, `:`); never spaces, quotes or
# brackets: a line with those is not a stat, whatever else it holds.
_NOT_A_NAME = re.compile(r'[\s"{}\[\]<>\\]')


def parse_stats_text(text: str) -> list[Stat]:
    """Parse Envoy's `/stats` text; lines that are not `name: value` are left out."""
    return [s for s in _parse_lines(text) if s.name and not _NOT_A_NAME.search(s.name)]


def parse_stats_answer(text: str, describe: str, filtered: bool) -> list[Stat]:
    """A live /stats answer, refused when it is not Envoy's stats text: an Envoy always has
    stats (server.*), so only a ?filter= may make the answer empty."""
    stats = parse_stats_text(text)
    if not stats and (text.strip() or not filtered):
        raise BadAnswerError(f"{describe} answered /stats with "
                             + ("nothing" if not text.strip() else f"{len(text)} bytes that "
                                "are not Envoy's stats text") + ": not Envoy's admin API")
    return stats


def _parse_lines(text: str) -> list[Stat]:
    out: list[Stat] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.rpartition(": ")
        if not sep:
            name, sep, value = line.partition(":")
            if not sep:
                continue
        value = value.strip()
        try:
            out.append(Stat(name.strip(), int(value)))
        except ValueError:
            if value.startswith(("P0", "No recorded values")):
                out.append(Stat(name.strip(), value))
            else:
                # histogram lines may themselves contain ": " inside the quantiles
                head, sep2, rest = line.partition(": ")
                out.append(Stat(head.strip(), rest.strip()))
    return out


def validate_regex(pattern: str) -> str:
    """Reject patterns Python cannot compile: RE2 is a subset, so this catches typos early."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"--filter {pattern!r} is not a valid regular expression: {exc}") from exc
    if re.search(r"\(\?[=!<]|\\[1-9]", pattern):
        raise UsageError(
            f"--filter {pattern!r} uses lookaround or backreferences, which Envoy's RE2 "
            "does not support"
        )
    return pattern


def stats_as_dict(stats: list[Stat]) -> dict[str, StatValue]:
    return {s.name: s.value for s in stats}


def delta(before: list[Stat], after: list[Stat], seconds: float) -> list[dict[str, object]]:
    """What changed between two samples, with the rate per second (counters and gauges)."""
    old = stats_as_dict(before)
    rows = []
    for stat in after:
        if stat.is_histogram or not isinstance(old.get(stat.name, 0), int):
            continue
        prev = old.get(stat.name, 0)
        assert isinstance(prev, int) and isinstance(stat.value, int)
        change = stat.value - prev
        if change:
            rows.append(
                {
                    "name": stat.name, "before": prev, "after": stat.value, "delta": change,
                    "per_second": round(change / seconds, 3) if seconds else None,
                }
            )
    return rows


# istiod gives every cluster `alt_stat_name: NAME;`, so a real sidecar's per-cluster
# stats read `cluster.outbound|8000||httpbin.foo.svc.cluster.local;.upstream_rq_200`;
# Envoy without that (older Istio, hand-written configs) writes `cluster.NAME.KEY`.
def cluster_stat_re(cluster_re: str) -> str:
    """An RE2 prefix for the stats of the clusters CLUSTER_RE matches, either way named."""
    return rf"^cluster\.{cluster_re};?\."


def cluster_stat_key(name: str) -> tuple[str, str] | None:
    """`cluster.NAME[;].KEY` -> (NAME, KEY); None for a stat that is not per-cluster.
    KEY is the last dotted token (so `...local.retry.upstream_rq_5xx` gives `retry`'s
    head, which no caller asks for)."""
    if not name.startswith("cluster."):
        return None
    head, _, key = name.rpartition(".")
    return head[len("cluster."):].removesuffix(";"), key


def cluster_stat(stats: dict[str, object], cluster: str, key: str) -> object:
    """STATS[cluster.CLUSTER.KEY], under either of the names above."""
    value = stats.get(f"cluster.{cluster};.{key}")
    return stats.get(f"cluster.{cluster}.{key}") if value is None else value
