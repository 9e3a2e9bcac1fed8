"""`istio_requests_total` from a sidecar's Prometheus text, when Istio's stats filter is on.

Envoy's `/stats/prometheus` holds every stat; only the lines of this one metric are handed
to prometheus_client's parser (a malformed line elsewhere must not cost the metric, and
the rest can be megabytes). The labels kept are the ones an edge needs (Istio's standard
metric labels, as istio/proxy's testdata/metric/*_request_total.yaml.tmpl spell them).
"""

from __future__ import annotations

from dataclasses import dataclass

METRIC = "istio_requests_total"
KEPT_LABELS = (
    "reporter", "source_workload", "source_workload_namespace", "destination_service",
    "destination_service_name", "destination_service_namespace", "destination_workload",
    "destination_workload_namespace", "destination_port", "response_code", "response_flags",
)


@dataclass(frozen=True)
class RequestCount:
    """One istio_requests_total series: its labels (KEPT_LABELS, "" when absent), count."""

    labels: tuple[tuple[str, str], ...]
    value: int

    def get(self, name: str) -> str:
        return dict(self.labels).get(name, "")


SERIES_MAX = 20_000  # series one proxy may hand us; a real sidecar has hundreds
LABEL_MAX = 1024  # characters of one label value kept


class RequestCounts(list):  # type: ignore[type-arg]
    """The series read, and how many were left out past SERIES_MAX (a proxy that sends
    200,000 series would otherwise cost tens of seconds and a gigabyte)."""

    dropped: int = 0


def parse_requests_total(text: str) -> RequestCounts | None:
    """The series of istio_requests_total, summed over the labels not kept; None when the
    text has no such metric (the stats filter is off: absent, never zero)."""
    from prometheus_client.parser import text_string_to_metric_families

    series = [line for line in text.splitlines() if line.startswith(METRIC)]
    if not series:
        return None
    dropped = max(0, len(series) - SERIES_MAX)
    series = series[:SERIES_MAX]
    totals: dict[tuple[tuple[str, str], ...], float] = {}
    try:  # all at once; one malformed series makes it one line at a time
        batches = [list(text_string_to_metric_families("\n".join(series) + "\n"))]
    except (ValueError, TypeError, IndexError):
        batches = []
        for line in series:
            try:
                batches.append(list(text_string_to_metric_families(line + "\n")))
            except (ValueError, TypeError, IndexError):
                continue  # one malformed series is left out, not the metric
    for families in batches:
        for family in families:
            for sample in family.samples:
                if sample.name != METRIC:
                    continue
                key = tuple((k, str(sample.labels.get(k, ""))[:LABEL_MAX]) for k in KEPT_LABELS)
                value = sample.value
                if value != value or value in (float("inf"), float("-inf")) or value < 0:
                    continue  # NaN, infinities and negatives are no request counts
                totals[key] = totals.get(key, 0.0) + value
    out = RequestCounts(RequestCount(k, int(v)) for k, v in totals.items())
    out.dropped = dropped
    return out
