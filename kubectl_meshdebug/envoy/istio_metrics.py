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


def parse_requests_total(text: str) -> list[RequestCount] | None:
    """The series of istio_requests_total, summed over the labels not kept; None when the
    text has no such metric (the stats filter is off: absent, never zero)."""
    from prometheus_client.parser import text_string_to_metric_families

    lines = [line for line in text.splitlines()
             if line.startswith(METRIC) or (line.startswith("#") and f" {METRIC}" in line)]
    if not any(line.startswith(METRIC) for line in lines):
        return None
    totals: dict[tuple[tuple[str, str], ...], float] = {}
    for line in lines:
        if line.startswith("#"):
            continue
        try:
            families = list(text_string_to_metric_families(line + "\n"))
        except (ValueError, TypeError, IndexError):
            continue  # one malformed series is left out, not the metric
        for family in families:
            for sample in family.samples:
                if sample.name != METRIC:
                    continue
                key = tuple((k, str(sample.labels.get(k, ""))) for k in KEPT_LABELS)
                value = sample.value
                if value != value or value in (float("inf"), float("-inf")) or value < 0:
                    continue  # NaN, infinities and negatives are no request counts
                totals[key] = totals.get(key, 0.0) + value
    return [RequestCount(k, int(v)) for k, v in totals.items()]
