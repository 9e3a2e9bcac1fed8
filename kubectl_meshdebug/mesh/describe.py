"""Everything the mesh applies to one pod, as plain data: the heart of `describe`.

The Services it backs (with each port's protocol as Istio reads it and whether the
targetPort is a port the container declares), the DestinationRule for each and the
subsets the pod is in, the VirtualServices for and to each Service with every route,
the PeerAuthentication mode per port, the Sidecar resource, injection and warnings.
"""

from __future__ import annotations

import json
from typing import Any

from kubectl_meshdebug.kube.state import ClusterState, annotations, full_name, labels, meta, ref
from kubectl_meshdebug.kube.targets import proxy_container
from kubectl_meshdebug.mesh import policy
from kubectl_meshdebug.mesh.commands import pod_hint
from kubectl_meshdebug.mesh.hosts import host_matches, resolve_host
from kubectl_meshdebug.mesh.meshconfig import load_mesh_config
from kubectl_meshdebug.mesh.protocol import port_protocol
from kubectl_meshdebug.mesh.sidecar import applicable_sidecar
from kubectl_meshdebug.mesh.virtualservice import applies_to_sidecars, destinations

Obj = dict[str, Any]


def container_ports(pod: Obj) -> list[dict[str, Any]]:
    out = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == "istio-proxy":
            continue
        for p in c.get("ports") or []:
            out.append({**p, "container": c.get("name")})
    return out


def pod_ports(pod: Obj) -> list[dict[str, Any]]:
    """Every container's declared ports, the sidecar's included, as istioctl's Pod Ports."""
    return [{"port": p.get("containerPort"), "protocol": p.get("protocol") or "TCP",
             "container": c.get("name")}
            for c in (pod.get("spec") or {}).get("containers") or []
            for p in c.get("ports") or []]


def injected_revision(pod: Obj) -> str:
    """The control plane revision that injected the pod, where istioctl reads it: the
    istio.io/rev annotation, else the injector's sidecar.istio.io/status record."""
    notes = annotations(pod)
    if "istio.io/rev" in notes:
        return str(notes["istio.io/rev"])
    try:
        status = json.loads(str(notes.get("sidecar.istio.io/status") or ""))
    except ValueError:
        return ""
    return str(status.get("revision") or "") if isinstance(status, dict) else ""


def pod_warnings(pod: Obj) -> list[str]:
    """What istioctl warns about a pod itself: containers not ready, UID 1337 (the
    sidecar's, which iptables exempts from capture) taken by the app."""
    out = []
    status = pod.get("status") or {}
    if status.get("phase") == "Running":
        for key, what in (("containerStatuses", "container"),
                          ("initContainerStatuses", "init container")):
            for cs in status.get(key) or []:
                if isinstance(cs, dict) and not cs.get("ready"):
                    out.append(f"{what} {cs.get('name')} is not ready")
    spec = pod.get("spec") or {}
    uids = [((c.get("securityContext") or {}).get("runAsUser"), c.get("name"))
            for c in spec.get("containers") or [] if c.get("name") != "istio-proxy"]
    uids.append(((spec.get("securityContext") or {}).get("runAsUser"), None))
    for uid, container in uids:
        if uid == 1337:
            who = f"container {container}" if container else "the pod"
            out.append(f"{who} runs as UID 1337, the sidecar's: its traffic is not captured")
    return out


def target_port_status(svc_port: dict[str, Any], pod: Obj) -> tuple[Any, bool | None]:
    """(resolved target port, declared?) — None when the pod declares no ports at all."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    declared = container_ports(pod)
    if isinstance(target, str) and not target.isdecimal():
        named = [p for p in declared if p.get("name") == target]
        return (named[0]["containerPort"] if named else target), bool(named)
    number = int(target)
    if not declared:
        return number, None
    return number, any(int(p.get("containerPort", -1)) == number for p in declared)


def _policies(policy_doc: dict[str, Any]) -> list[str]:
    names = {"loadBalancer": "load balancer", "connectionPool": "connection pool",
             "outlierDetection": "outlier detection"}
    return [v for k, v in names.items() if k in policy_doc]


def describe_dr(dr: Obj, pod_labels: dict[str, str]) -> dict[str, Any]:
    spec = dr.get("spec") or {}
    subsets = spec.get("subsets") or []
    matching = [s.get("name") for s in subsets
                if all(pod_labels.get(k) == str(v) for k, v in (s.get("labels") or {}).items())]
    tp = spec.get("trafficPolicy") or {}
    return {
        "name": full_name(dr),
        "host": spec.get("host"),
        "has_subsets": bool(subsets),
        "has_traffic_policy": bool(tp),
        "matching_subsets": matching,
        "non_matching_subsets": [s.get("name") for s in subsets if s.get("name") not in matching],
        "tls_mode": (tp.get("tls") or {}).get("mode"),
        "policies": _policies(tp),
        "port_level": [{"port": (p.get("port") or {}).get("number"),
                        "tls_mode": (p.get("tls") or {}).get("mode"), "policies": _policies(p)}
                       for p in tp.get("portLevelSettings") or []],
    }


def describe_vs(vs: Obj, fqdn: str) -> dict[str, Any]:
    own = meta(vs).get("namespace", "")
    routes = []
    for where, dest in destinations(vs):
        host = resolve_host(str(dest.get("host", "")), own)
        routes.append({"where": where, "host": dest.get("host"), "subset": dest.get("subset"),
                       "port": (dest.get("port") or {}).get("number"),
                       "to_this_service": host == fqdn})
    spec = vs.get("spec") or {}
    weights = {}
    for kind in ("http", "tcp", "tls"):
        for i, route in enumerate(spec.get(kind) or []):
            for j, dest in enumerate(route.get("route") or []):
                weights[f"spec.{kind}[{i}].route[{j}]"] = dest.get("weight")
    matches = []
    for route in spec.get("http") or []:
        for m in route.get("match") or []:
            uri = m.get("uri") or {}
            for key, suffix in (("prefix", "*"), ("exact", ""), ("regex", " (regex)")):
                if key in uri:
                    matches.append(f"{uri[key]}{suffix}")
    for r in routes:
        r["weight"] = weights.get(r["where"])
    return {"name": f"{own}/{meta(vs).get('name')}", "hosts": spec.get("hosts") or [],
            "gateways": spec.get("gateways") or [], "routes": routes, "matches": matches,
            "http_routes": len(spec.get("http") or []), "tcp_routes": len(spec.get("tcp") or []),
            "tls_routes": len(spec.get("tls") or [])}


def describe_pod(state: ClusterState, pod: Obj, only_service: str | None = None
                 ) -> dict[str, Any]:
    """The mesh around a pod; with `only_service`, the part about that Service only (how
    `istioctl x describe svc` describes a Service through one of its pods)."""
    mesh = load_mesh_config(state)
    ns = meta(pod).get("namespace", "")
    pod_labels = labels(pod)
    proxy = proxy_container(pod)
    warnings: list[str] = pod_warnings(pod)
    peer_auth = policy.merged_peer_authentication(state, mesh, ns, pod_labels)
    out: dict[str, Any] = {
        "pod": f"{ns}/{meta(pod).get('name')}",
        "phase": (pod.get("status") or {}).get("phase"),
        "revision": injected_revision(pod),
        "pod_ports": pod_ports(pod),
        "sidecar": {
            "injected": proxy is not None,
            "native": proxy is not None and proxy in ((pod.get("spec") or {}).get(
                "initContainers") or []),
            "image": (proxy or {}).get("image"),
            "log_level": annotations(pod).get("sidecar.istio.io/logLevel"),
        },
        "mesh_config": mesh.source, "auto_mtls": mesh.auto_mtls,
        "services": [],
    }
    if proxy is None:
        warnings.append("the pod has no istio-proxy container: it is not in the mesh "
                        f"(run: {pod_hint('check-inject', str(meta(pod).get('name')), ns)})")
    for svc in state.list("Service", ns):
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector or not all(pod_labels.get(k) == v for k, v in selector.items()):
            continue
        if only_service is not None and meta(svc).get("name") != only_service:
            continue
        name = meta(svc).get("name")
        fqdn = f"{name}.{ns}.svc.cluster.local"
        ports = []
        for p in (svc.get("spec") or {}).get("ports") or []:
            proto, how = port_protocol(p)
            target, declared = target_port_status(p, pod)
            pa = peer_auth.for_port(target if isinstance(target, int) else None)
            ports.append({"port": p.get("port"), "name": p.get("name"), "protocol": proto,
                          "protocol_from": how, "target_port": target,
                          "target_port_declared": declared, "mtls_mode": pa.mode,
                          "mtls_source": pa.source})
            if declared is False:
                warnings.append(f"Service {name} port {p.get('port')} targets {target}, which "
                                "no container of the pod declares: is the app listening there?")
            if how == "sniffed":
                warnings.append(f"Service {name} port {p.get('port')} has no protocol in its "
                                "name or appProtocol: Istio sniffs it")
        dr = policy.find_destination_rule(state, mesh, fqdn, ns, None, ns)
        dr_info = describe_dr(dr, pod_labels) if dr else None
        if dr_info and dr_info["non_matching_subsets"] and not dr_info["matching_subsets"]:
            warnings.append(f"the pod matches no subset of DestinationRule {dr_info['name']} "
                            f"({', '.join(dr_info['non_matching_subsets'])})")
        if dr_info:
            for p in ports:
                tls = policy.expected_client_tls(dr, mesh, p["port"]).mode
                if tls == "none" and p["mtls_mode"] == "STRICT":
                    warnings.append(
                        f"DestinationRule {dr_info['name']} makes clients send plaintext to port "
                        f"{p['port']}, but {p['mtls_source']} requires mTLS: calls fail (503 UC)")
        vss = []
        for vs in state.list("VirtualService"):
            vs_ns = meta(vs).get("namespace", "")
            hosts = [resolve_host(str(h), vs_ns) for h in (vs.get("spec") or {}).get("hosts") or []]
            info = describe_vs(vs, fqdn)
            if any(host_matches(h, fqdn) for h in hosts) or any(
                    r["to_this_service"] for r in info["routes"]):
                info["for_this_service"] = any(host_matches(h, fqdn) for h in hosts)
                info["applies_to_sidecars"] = applies_to_sidecars(vs)
                vss.append(info)
                if not info["applies_to_sidecars"]:
                    continue  # its subsets concern those gateways only
                subsets = {r["subset"] for r in info["routes"] if r["to_this_service"]
                           and r["subset"]}
                if dr_info is not None:
                    known = set(dr_info["matching_subsets"] + dr_info["non_matching_subsets"])
                else:
                    known = set()
                for s in sorted(subsets - known):
                    warnings.append(f"VirtualService {info['name']} routes to subset {s!r}, "
                                    "which no DestinationRule defines (503 NC)")
        out["services"].append({"name": f"{ns}/{name}", "fqdn": fqdn, "ports": ports,
                                "destination_rule": dr_info, "virtual_services": vss})
    sidecar = applicable_sidecar(state, mesh.root_namespace, pod)
    out["sidecar_resource"] = ref(sidecar) if sidecar else None
    if sidecar:
        out["sidecar_egress"] = [h for e in (sidecar.get("spec") or {}).get("egress") or []
                                 for h in e.get("hosts") or []]
    out["peer_authentication"] = {
        "mode": peer_auth.mode, "source": peer_auth.mode_source,
        "port_modes": {str(k): v for k, v in sorted(peer_auth.per_port.items())},
        "applied": peer_auth.applied}
    out["authorization_policies"] = [
        {"name": full_name(p), "action": str((p.get("spec") or {}).get("action")
                                                        or "ALLOW"),
         "rules": len((p.get("spec") or {}).get("rules") or [])}
        for p in policy.workload_policies(state, mesh.root_namespace, ns, pod_labels,
                                          "AuthorizationPolicy")]
    out["request_authentications"] = [
        full_name(p) for p in policy.workload_policies(
            state, mesh.root_namespace, ns, pod_labels, "RequestAuthentication")]
    if not out["services"]:
        warnings.append("no Service selects this pod")
    out["warnings"] = warnings
    return out
