"""The kinds meshdebug reads, with their API groups, versions (newest first) and plurals."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str
    versions: tuple[str, ...]
    plural: str
    namespaced: bool = True
    # read as metadata only (PartialObjectMetadataList): the API server sends no data, so
    # a credential never reaches the tool
    metadata_only: bool = False

    @property
    def is_core(self) -> bool:
        return self.group == ""


_NET = ("v1", "v1beta1", "v1alpha3")
KINDS = {
    k.kind: k
    for k in (
        Kind("Pod", "", ("v1",), "pods"),
        Kind("Service", "", ("v1",), "services"),
        Kind("Endpoints", "", ("v1",), "endpoints"),
        Kind("Namespace", "", ("v1",), "namespaces", namespaced=False),
        Kind("Node", "", ("v1",), "nodes", namespaced=False),
        Kind("ConfigMap", "", ("v1",), "configmaps"),
        Kind("ServiceAccount", "", ("v1",), "serviceaccounts"),
        Kind("Secret", "", ("v1",), "secrets", metadata_only=True),
        Kind("Event", "", ("v1",), "events"),
        Kind("EndpointSlice", "discovery.k8s.io", ("v1",), "endpointslices"),
        Kind("Deployment", "apps", ("v1",), "deployments"),
        Kind("ReplicaSet", "apps", ("v1",), "replicasets"),
        Kind("StatefulSet", "apps", ("v1",), "statefulsets"),
        Kind("DaemonSet", "apps", ("v1",), "daemonsets"),
        Kind(
            "MutatingWebhookConfiguration", "admissionregistration.k8s.io", ("v1",),
            "mutatingwebhookconfigurations", namespaced=False,
        ),
        Kind("DestinationRule", "networking.istio.io", _NET, "destinationrules"),
        Kind("VirtualService", "networking.istio.io", _NET, "virtualservices"),
        Kind("ServiceEntry", "networking.istio.io", _NET, "serviceentries"),
        Kind("Sidecar", "networking.istio.io", _NET, "sidecars"),
        Kind("Gateway", "networking.istio.io", _NET, "gateways"),
        Kind("WorkloadGroup", "networking.istio.io", ("v1", "v1beta1", "v1alpha3"),
             "workloadgroups"),
        Kind("EnvoyFilter", "networking.istio.io", ("v1alpha3",), "envoyfilters"),
        Kind("PeerAuthentication", "security.istio.io", ("v1", "v1beta1"), "peerauthentications"),
        Kind("AuthorizationPolicy", "security.istio.io", ("v1", "v1beta1"),
             "authorizationpolicies"),
        Kind("RequestAuthentication", "security.istio.io", ("v1", "v1beta1"),
             "requestauthentications"),
        Kind("Telemetry", "telemetry.istio.io", ("v1", "v1alpha1"), "telemetries"),
    )
}

WORKLOAD_KINDS = {
    "deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
    "rs": "ReplicaSet", "replicaset": "ReplicaSet", "replicasets": "ReplicaSet",
    "sts": "StatefulSet", "statefulset": "StatefulSet", "statefulsets": "StatefulSet",
    "ds": "DaemonSet", "daemonset": "DaemonSet", "daemonsets": "DaemonSet",
}
