"""The explicit list of checks: what each emits and, through its finding types, what it reads.

`audit` runs AUDIT_CHECKS on objects alone; `why-503` runs WHY503_CHECKS on one call's
context. A runner reads only the object kinds and proxy data the selected checks declare.
Nothing registers itself on import: this list is the one place a check is switched on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubectl_meshdebug.checks import (
    counters,
    malformed,
    paths,
    ports,
    proxy,
    routing,
    tls,
    upstream,
)
from kubectl_meshdebug.checks.finding import Finding, FindingType


class Check:
    """One check: what it emits and what it reads. A check reads what its finding types
    declare unless it says less (an audit check never reads a proxy, nor the pods its
    why-503 twin looks at)."""

    def __init__(self, name: str, run: Callable[[Any], list[Finding]],
                 emits: tuple[FindingType, ...], kinds: tuple[str, ...] | None = None,
                 proxy: tuple[str, ...] | None = None) -> None:
        self.name = name
        self.run = run
        self.emits = emits
        self._kinds = kinds
        self._proxy = proxy

    @property
    def kinds(self) -> set[str]:
        if self._kinds is not None:
            return set(self._kinds)
        return {k for t in self.emits for k in t.kinds}

    @property
    def proxy(self) -> set[str]:
        if self._proxy is not None:
            return set(self._proxy)
        return {p for t in self.emits for p in t.proxy}

    def __repr__(self) -> str:
        return f"Check({self.name!r})"


_MESH_TLS = ("DestinationRule", "PeerAuthentication", "ConfigMap", "Service", "ServiceEntry")

AUDIT_CHECKS: list[Check] = [
    Check("object-malformed", malformed.object_malformed, (malformed.OBJECT_MALFORMED,),
          kinds=(), proxy=()),
    Check("tls-mode-mismatch", tls.tls_mode_mismatch_audit, (tls.TLS_MODE_MISMATCH,),
          kinds=_MESH_TLS, proxy=()),
    Check("dr-tls-overrides-mtls", tls.dr_tls_overrides_mtls_audit,
          (tls.DR_TLS_OVERRIDES_MTLS,), kinds=_MESH_TLS, proxy=()),
    Check("port-protocol-mismatch", ports.port_protocol_mismatch_audit,
          (ports.PORT_PROTOCOL_MISMATCH,), proxy=()),
    Check("port-name-unrecognized", ports.port_name_unrecognized,
          (ports.PORT_NAME_UNRECOGNIZED,)),
    Check("externalname-port-name-invalid", ports.externalname_port_name_invalid,
          (ports.EXTERNALNAME_PORT_NAME_INVALID,)),
    Check("protocol-conflict", ports.protocol_conflict, (ports.PROTOCOL_CONFLICT,)),
    Check("vs-host-not-found", routing.vs_host_not_found, (routing.VS_HOST_NOT_FOUND,)),
    Check("vs-port-required", routing.vs_port_required, (routing.VS_PORT_REQUIRED,)),
    Check("vs-subset-undefined", routing.vs_subset_undefined, (routing.VS_SUBSET_UNDEFINED,),
          proxy=()),
    Check("ingress-route-rules-not-applied", routing.ingress_route_rules_not_applied,
          (routing.INGRESS_ROUTE_RULES_NOT_APPLIED,)),
    Check("dr-host-not-found", routing.dr_host_not_found, (routing.DR_HOST_NOT_FOUND,)),
    Check("subset-no-pods", routing.subset_no_pods, (routing.SUBSET_NO_PODS,),
          kinds=("DestinationRule", "Service", "ServiceEntry", "Pod", "Node"), proxy=()),
    Check("dr-duplicate-host", routing.dr_duplicate_host, (routing.DR_DUPLICATE_HOST,)),
]

WHY503_CHECKS: list[Check] = [
    Check("proxy-not-ready", proxy.proxy_not_ready, (proxy.PROXY_NOT_READY,)),
    Check("proxy-config-rejected", proxy.proxy_config_rejected, (proxy.PROXY_CONFIG_REJECTED,)),
    Check("dr-tls-overrides-mtls", tls.dr_tls_overrides_mtls_call,
          (tls.DR_TLS_OVERRIDES_MTLS,)),
    Check("tls-mode-mismatch", tls.tls_mode_mismatch_call, (tls.TLS_MODE_MISMATCH,)),
    Check("peerauth-strict-plaintext-client", tls.peerauth_strict_plaintext_client,
          (tls.PEERAUTH_STRICT_PLAINTEXT_CLIENT,)),
    Check("sidecar-missing", tls.sidecar_missing, (tls.SIDECAR_MISSING,)),
    Check("port-protocol-mismatch", ports.port_protocol_mismatch_call,
          (ports.PORT_PROTOCOL_MISMATCH,)),
    Check("protocol-conflict", ports.protocol_conflict_call, (ports.PROTOCOL_CONFLICT,)),
    Check("sidecar-egress-hides-host", paths.sidecar_egress_hides_host,
          (paths.SIDECAR_EGRESS_HIDES_HOST,)),
    Check("service-not-found", paths.service_not_found, (paths.SERVICE_NOT_FOUND,)),
    Check("external-host-egress", paths.external_host_egress,
          (paths.EGRESS_PASSTHROUGH, paths.EGRESS_BLOCKED)),
    Check("route-not-found", paths.route_not_found, (paths.ROUTE_NOT_FOUND,)),
    Check("cluster-not-found", paths.cluster_not_found,
          (paths.CLUSTER_NOT_FOUND, routing.VS_SUBSET_UNDEFINED)),
    Check("no-endpoints", paths.no_endpoints, (paths.NO_ENDPOINTS, routing.SUBSET_NO_PODS)),
    Check("circuit-breaker-overflow", upstream.circuit_breaker_overflow,
          (upstream.CIRCUIT_BREAKER_OVERFLOW,)),
    Check("outlier-ejected", upstream.outlier_ejected, (upstream.OUTLIER_EJECTED,)),
    Check("http2-port-http1-app", ports.http2_port_http1_app, (ports.HTTP2_PORT_HTTP1_APP,)),
    Check("upstream-protocol-error", upstream.upstream_protocol_error,
          (upstream.UPSTREAM_PROTOCOL_ERROR,)),
    Check("target-port-not-listening", upstream.target_port_not_listening,
          (upstream.TARGET_PORT_NOT_LISTENING,)),
    Check("route-timeout", upstream.route_timeout, (upstream.ROUTE_TIMEOUT,)),
    Check("app-resets-connection", upstream.app_resets_connection,
          (upstream.APP_RESETS_CONNECTION,)),
    Check("upstream-connect-failure", upstream.upstream_connect_failure,
          (upstream.UPSTREAM_CONNECT_FAILURE,)),
    Check("failures-unexplained", counters.failures_unexplained,
          (counters.FAILURES_UNEXPLAINED,)),
]


def catalogue() -> dict[str, FindingType]:
    """Every finding type, by id: the catalogue docs/checks/ pages are checked against."""
    out: dict[str, FindingType] = {}
    for check in AUDIT_CHECKS + WHY503_CHECKS:
        for ftype in check.emits:
            known = out.setdefault(ftype.id, ftype)
            if known is not ftype:
                raise RuntimeError(f"finding id {ftype.id!r} is declared twice")
    return out


def audit_ids() -> list[str]:
    return sorted({t.id for c in AUDIT_CHECKS for t in c.emits})


def select_audit(ids: list[str] | None) -> list[Check]:
    """The audit checks that emit any of `ids` (all of them when none are given)."""
    if not ids:
        return list(AUDIT_CHECKS)
    wanted = set(ids)
    return [c for c in AUDIT_CHECKS if wanted & {t.id for t in c.emits}]
