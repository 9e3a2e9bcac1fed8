"""describe POD's PeerAuthentication block beside istioctl x describe pod's, with
PeerAuthentications at every level a real mesh has them: mesh-wide in the root namespace,
two namespace-wide ones (the older wins), a workload one that leaves the mode unset and
sets two ports, and a selector in the root namespace (which istiod ignores and istioctl
still lists). The lab's scenarios only have the mesh-wide one."""

from __future__ import annotations

import json

from tests.cluster.conftest import kubectl
from tests.cluster.test_mesh_live import describe_both, dotted

SCENARIO = "healthy"


def peer_authentication(namespace: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_peer_authentication_composes_as_istioctl(in_mesh, control_plane):
    pods = sorted(key for key, pod in in_mesh.pods.items() if pod.lab.sidecar)
    namespace = pods[0][0]
    server = next(name for ns, name in pods if name.startswith("httpbin"))
    policies = [
        peer_authentication(namespace, "ns-wide", {"mtls": {"mode": "PERMISSIVE"}}),
        peer_authentication(namespace, "ns-wide-later", {"mtls": {"mode": "DISABLE"}}),
        peer_authentication(namespace, "httpbin-ports", {
            "selector": {"matchLabels": {"app": "httpbin"}},
            "portLevelMtls": {"8080": {"mode": "DISABLE"}, "9000": {"mode": "STRICT"}}}),
        peer_authentication("istio-system", "root-selector", {
            "selector": {"matchLabels": {"app": "httpbin"}}, "mtls": {"mode": "DISABLE"}}),
    ]
    try:
        for policy in policies:  # one by one: the older namespace-wide one must win
            applied = kubectl(control_plane, "apply", "-f", "-", input=json.dumps(policy))
            assert applied.code == 0, applied.err
        seen = {}
        for ns, pod in pods:
            mine, theirs = describe_both(control_plane, ns, pod)
            pa = mine["peer_authentication"]
            seen[pod] = pa
            assert pa["mode"] == theirs["pa_mode"], (pod, pa, theirs)
            assert pa["port_modes"] == theirs["pa_ports"], (pod, pa, theirs)
            assert sorted(dotted(n) for n in pa["applied"]) == sorted(set(theirs["applied"])), \
                (pod, pa, theirs)
        # and what istiod itself would do, so that agreeing is not agreeing on a mistake
        assert seen[server]["mode"] == "PERMISSIVE"
        assert seen[server]["port_modes"] == {"8080": "DISABLE", "9000": "STRICT"}
        assert "istio-system/root-selector" in seen[server]["applied"]
    finally:
        for policy in policies:
            kubectl(control_plane, "delete", "peerauthentication", "-n",
                    policy["metadata"]["namespace"], policy["metadata"]["name"],
                    "--ignore-not-found")
