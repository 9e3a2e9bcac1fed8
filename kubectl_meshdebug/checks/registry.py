"""The explicit list of checks: what each emits and, through its finding types, what it reads.

`audit` runs AUDIT_CHECKS on objects alone; `why-503` runs WHY503_CHECKS on one call's
context. A runner reads only the object kinds and proxy data the selected checks declare.
Nothing registers itself on import: this list is the one place a check is switched on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubectl_meshdebug.checks import (
    annotations,
    app_uid,
    authz_policies,
    authz_rules,
    certificates,
    counters,
    denials,
    envoyfilters,
    exportto,
    gateways,
    image_auto,
    jwt_routes,
    malformed,
    paths,
    policy_selectors,
    ports,
    proxy,
    routing,
    server_verification,
    serviceentries,
    sidecar_resources,
    telemetry,
    tls,
    upstream,
    vs_binding,
    vs_rules,
    vs_weights,
    workload_services,
    workloadgroups,
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
    Check("dr-tls-no-ca", server_verification.dr_tls_without_ca,
          (server_verification.DR_TLS_NO_CA, server_verification.DR_PORT_TLS_NO_CA)),
    Check("sidecar-selectors", sidecar_resources.sidecar_selectors,
          (sidecar_resources.SIDECAR_SELECTOR_NO_PODS, sidecar_resources.SIDECAR_SELECTOR_CONFLICT,
           sidecar_resources.SIDECAR_MULTIPLE_DEFAULTS, sidecar_resources.SIDECAR_IN_AMBIENT)),
    Check("vs-gateway-binding", vs_binding.vs_gateway_binding,
          (vs_binding.VS_GATEWAY_NOT_FOUND, vs_binding.VS_HOST_NOT_IN_GATEWAY,
           vs_binding.VS_INTERNAL_GATEWAY)),
    Check("vs-host-conflict", vs_binding.vs_host_conflict, (vs_binding.VS_HOST_CONFLICT,)),
    Check("gateway-ports", gateways.gateway_ports,
          (gateways.GATEWAY_SELECTOR_NO_PODS, gateways.GATEWAY_PORT_NOT_ON_SERVICE)),
    Check("gateway-conflict", gateways.gateway_conflicts, (gateways.GATEWAY_CONFLICT,)),
    Check("gateway-credentials", gateways.gateway_credentials,
          (gateways.GATEWAY_CREDENTIAL_NOT_FOUND,)),
    Check("gateway-duplicate-certificate", gateways.gateway_duplicate_certificates,
          (gateways.GATEWAY_DUPLICATE_CERTIFICATE,)),
    Check("vs-unreachable-rules", vs_rules.vs_unreachable_rules,
          (vs_rules.VS_RULE_UNREACHABLE, vs_rules.VS_MATCH_INEFFECTIVE)),
    Check("envoyfilter-patches", envoyfilters.envoyfilter_patches,
          (envoyfilters.ENVOYFILTER_RELATIVE_NO_PRIORITY,
           envoyfilters.ENVOYFILTER_RELATIVE_PROXY_VERSION, envoyfilters.ENVOYFILTER_REPLACE_IGNORED,
           envoyfilters.ENVOYFILTER_ADD_IGNORED, envoyfilters.ENVOYFILTER_REMOVE_IGNORED)),
    Check("serviceentry-addresses", serviceentries.serviceentry_addresses,
          (serviceentries.SERVICEENTRY_ADDRESSES_REQUIRED,)),
    Check("serviceentry-protocol-conflict", serviceentries.serviceentry_protocol_conflicts,
          (serviceentries.SERVICEENTRY_PROTOCOL_CONFLICT,)),
    Check("deployment-service-ports", workload_services.deployment_service_ports,
          (workload_services.DEPLOYMENT_PORT_PROTOCOLS,
           workload_services.DEPLOYMENT_TARGET_PORT_CONFLICT)),
    Check("telemetry-selectors", telemetry.telemetry_selectors,
          (telemetry.TELEMETRY_SELECTOR_NO_PODS, telemetry.TELEMETRY_SELECTOR_CONFLICT,
           telemetry.TELEMETRY_MULTIPLE_DEFAULTS)),
    Check("telemetry-access-log-providers", telemetry.telemetry_access_log_providers,
          (telemetry.TELEMETRY_ACCESS_LOG_NO_PROVIDER,)),
    Check("authz-policies", authz_policies.authz_policies,
          (authz_policies.AUTHZ_NO_WORKLOADS, authz_policies.AUTHZ_NAMESPACE_NOT_FOUND)),
    Check("jwt-claim-routes", jwt_routes.jwt_claim_routes,
          (jwt_routes.JWT_CLAIM_ROUTE_WITHOUT_AUTHN,)),
    Check("app-uid-1337", app_uid.app_uid, (app_uid.APP_UID_1337,)),
    Check("image-auto", image_auto.image_auto,
          (image_auto.IMAGE_AUTO_NOT_INJECTED, image_auto.IMAGE_AUTO_NO_WEBHOOK)),
    Check("annotations", annotations.annotations,
          (annotations.ANNOTATION_UNKNOWN, annotations.ANNOTATION_MISPLACED,
           annotations.ANNOTATION_INVALID, annotations.ANNOTATION_DEPRECATED)),
    # Kiali's validations where Istio has no analyzer
    Check("authz-methods", authz_rules.authz_methods, (authz_rules.AUTHZ_METHOD_INVALID,)),
    Check("authz-hosts", authz_rules.authz_hosts, (authz_rules.AUTHZ_HOST_NOT_FOUND,)),
    Check("authz-principals", authz_rules.authz_principals,
          (authz_rules.AUTHZ_PRINCIPAL_NOT_FOUND,)),
    Check("authz-requires-mtls", authz_rules.authz_requires_mtls,
          (authz_rules.AUTHZ_REQUIRES_MTLS,)),
    Check("policy-selectors", policy_selectors.policy_selectors,
          (policy_selectors.POLICY_SELECTOR_NO_PODS, policy_selectors.PEERAUTH_MULTIPLE_DEFAULTS,
           policy_selectors.PEERAUTH_SELECTOR_CONFLICT)),
    Check("exportto-namespaces", exportto.exportto_namespaces,
          (exportto.EXPORTTO_NAMESPACE_NOT_FOUND,)),
    Check("peerauth-strict-without-client-mtls", tls.peerauth_strict_without_client_mtls,
          (tls.PEERAUTH_STRICT_WITHOUT_CLIENT_MTLS,)),
    Check("dr-mtls-without-peerauth", tls.dr_mtls_without_peerauth,
          (tls.DR_MTLS_WITHOUT_PEERAUTH,)),
    Check("subset-no-labels", routing.subset_no_labels, (routing.SUBSET_NO_LABELS,)),
    Check("sidecar-root-selector", sidecar_resources.sidecar_root_selectors,
          (sidecar_resources.SIDECAR_ROOT_SELECTOR,)),
    Check("sidecar-egress-hosts", sidecar_resources.sidecar_egress_hosts,
          (sidecar_resources.SIDECAR_EGRESS_HOST_NOT_FOUND,)),
    Check("vs-route-weights", vs_weights.vs_route_weights,
          (vs_weights.VS_SINGLE_WEIGHT, vs_weights.VS_REPEATED_DESTINATION)),
    Check("serviceentry-duplicates", serviceentries.serviceentry_duplicates,
          (serviceentries.SERVICEENTRY_DUPLICATE_HOST,)),
    Check("service-ports-declared", workload_services.service_ports_declared,
          (workload_services.SERVICE_PORT_NOT_DECLARED,)),
    Check("workloadgroups", workloadgroups.workloadgroups,
          (workloadgroups.WORKLOADGROUP_ACCOUNT_NOT_FOUND,
           workloadgroups.WORKLOADGROUP_DUPLICATE_LABELS)),
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
    Check("certificates", certificates.certificates_call,
          (certificates.CERT_MISSING, certificates.CERT_EXPIRED, certificates.CERT_NOT_ROTATED,
           certificates.CERT_IDENTITY_MISMATCH, certificates.ROOT_CA_MISMATCH)),
    Check("upstream-connect-failure", upstream.upstream_connect_failure,
          (upstream.UPSTREAM_CONNECT_FAILURE,)),
    Check("authz-denied", denials.authz_denied, (denials.AUTHZ_DENIED,)),
    Check("jwt-rejected", denials.jwt_rejected, (denials.JWT_REJECTED,)),
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
