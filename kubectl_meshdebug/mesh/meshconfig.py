"""Mesh-wide settings from the `istio` ConfigMap: root namespace, auto mTLS, outbound
policy and the proxies' metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.kube.state import ClusterState


@dataclass
class MeshConfig:
    root_namespace: str = "istio-system"
    auto_mtls: bool = True
    source: str = "Istio defaults"
    outbound_policy: str = "ALLOW_ANY"  # outboundTrafficPolicy.mode (Istio's default)
    # defaultConfig.proxyMetadata: the proxies' environment (DNS capture, auto-allocation)
    proxy_metadata: dict[str, str] = field(default_factory=dict)
    # defaultProviders.accessLogging: what an access-logging Telemetry without providers uses
    default_access_log_providers: list[str] = field(default_factory=list)
    trust_domain: str = "cluster.local"  # the SPIFFE trust domain of workload identities


def parse_mesh(text: str, source: str, istio_namespace: str = "istio-system") -> MeshConfig:
    """The fields the checks use. rootNamespace defaults to the control plane's namespace,
    as istiod's does."""
    import yaml

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    auto = doc.get("enableAutoMtls")
    policy = doc.get("outboundTrafficPolicy")
    mode = policy.get("mode") if isinstance(policy, dict) else None
    default_config = doc.get("defaultConfig")
    metadata = default_config.get("proxyMetadata") if isinstance(default_config, dict) else None
    providers = doc.get("defaultProviders")
    access_logs = providers.get("accessLogging") if isinstance(providers, dict) else None
    return MeshConfig(
        default_access_log_providers=[str(p) for p in access_logs]
        if isinstance(access_logs, list) else [],
        proxy_metadata={str(k): str(v).lower() if isinstance(v, bool) else str(v)
                        for k, v in metadata.items()} if isinstance(metadata, dict) else {},
        root_namespace=str(doc.get("rootNamespace") or istio_namespace),
        auto_mtls=True if auto is None else bool(auto),
        source=source,
        outbound_policy="REGISTRY_ONLY" if mode == "REGISTRY_ONLY" else "ALLOW_ANY",
        trust_domain=str(doc.get("trustDomain") or "cluster.local"),
    )


def load_mesh_config(state: ClusterState, revision: str | None = None) -> MeshConfig:
    """The ConfigMap `istio` (or `istio-<rev>`) in the control plane's namespace (the
    state's root, --istio-namespace), else Istio's defaults. A ConfigMap of that name in
    any other namespace is not the mesh config, whoever wrote it."""
    istio_ns = state.istio_namespace
    names = [f"istio-{revision}", "istio"] if revision else ["istio"]
    for name in names:
        for cm in state.list("ConfigMap"):
            meta: dict[str, Any] = cm.get("metadata") if isinstance(cm.get("metadata"),
                                                                   dict) else {}
            data = cm.get("data") if isinstance(cm.get("data"), dict) else {}
            if meta.get("name") == name and meta.get("namespace") == istio_ns and \
                    isinstance(data.get("mesh"), str):
                return parse_mesh(data["mesh"], f"ConfigMap {istio_ns}/{name}", istio_ns)
    readable = getattr(state, "readable", None)
    if readable is not None and not readable("ConfigMap", istio_ns):
        return MeshConfig(root_namespace=istio_ns,
                          source=f"Istio defaults (ConfigMap {istio_ns}/istio not readable)")
    return MeshConfig(root_namespace=istio_ns)
