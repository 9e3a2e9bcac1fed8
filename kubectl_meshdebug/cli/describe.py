"""`describe POD`: the Services, rules and policies that apply to a pod, and what is off."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import global_options

if TYPE_CHECKING:
    from kubectl_meshdebug.render.output import Printer


@click.command("describe", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug describe productpage-v1-7f9 -n bookinfo
  kubectl meshdebug describe deploy/reviews-v2 -n bookinfo -o json
  kubectl meshdebug describe svc productpage -n bookinfo            # as istioctl x describe svc
  kubectl meshdebug describe httpbin-5c8 -f cluster-objects/ -n foo     # offline
""")
@click.argument("target", nargs=-1, required=True, metavar="POD | svc/NAME | svc NAME")
@global_options
@click.pass_context
def describe(ctx: click.Context, target: tuple[str, ...]) -> int:
    """Describe a pod, or a Service through one of its pods, as the mesh sees it.

    The Services it backs (each port's protocol as Istio reads it, whether targetPort is a
    port the app declares, the PeerAuthentication mode on it), the DestinationRule for each
    Service and the subsets the pod is in, the VirtualServices for and to it with all their
    routes and weights, the Sidecar resource, injection state, and warnings.
    """
    from kubectl_meshdebug.errors import UsageError
    from kubectl_meshdebug.kube.targets import pick_pod, pods_of_workload
    from kubectl_meshdebug.mesh.describe import describe_pod

    rt = runtime(ctx)
    if len(target) > 2:
        raise UsageError(f"too many arguments: {' '.join(target)}")
    if len(target) == 2:
        if target[0].lower() not in ("svc", "service", "services", "pod", "po", "pods"):
            raise UsageError(f"{target[0]!r} is not svc or pod", hint="e.g. describe svc NAME")
        pod = f"{target[0]}/{target[1]}"
    else:
        pod = target[0]
    state = rt.state()
    state.prefetch(["Pod", "Service", "DestinationRule", "VirtualService", "PeerAuthentication",
                    "Sidecar", "ConfigMap"])
    ref, ns = rt.pod_target(pod)
    if ns != rt.namespace:
        state.widen(ns)
    only = None
    if ref.kind == "Service":
        only = ref.name
        obj = pick_pod(pods_of_workload(state, "Service", ref.name, ns),
                       f"service {ns}/{ref.name}")
    elif ref.kind == "Pod":
        obj = state.get("Pod", ns, ref.name)
        if obj is None:
            from kubectl_meshdebug.kube.targets import close_names

            raise UsageError(f"pod {ns}/{ref.name} not found",
                             hint=close_names(ref.name, state.names("Pod", ns)))
    else:
        obj = pick_pod(pods_of_workload(state, ref.kind, ref.name, ns),
                       f"{ref.kind.lower()} {ns}/{ref.name}")
    doc = describe_pod(state, obj, only_service=only)
    if rt.settings.output in ("json", "yaml"):
        rt.printer.document(doc)
    else:
        render(rt.printer, doc)
    return 0


def render(printer: Printer, doc: dict[str, Any]) -> None:
    """istioctl x describe pod's layout, lines for the same facts in the same order, with
    what the tool adds (sidecar, mesh config, protocol source, mTLS per port) beside."""
    side = doc["sidecar"]
    printer.line(f"Pod: {doc['pod']} ({doc['phase'] or 'unknown phase'})")
    printer.line(f"   Pod Revision: {doc.get('revision') or '(none)'}")
    ports = [f"{p['port']}{'' if p['protocol'] == 'TCP' else '/' + str(p['protocol'])} "
             f"({p['container']})" for p in doc.get("pod_ports") or []]
    printer.line("   Pod Ports: " + ", ".join(ports) if ports else "   Pod does not expose ports")
    if side["injected"]:
        printer.line(f"   Sidecar: istio-proxy{' (native sidecar)' if side['native'] else ''}"
                     f", image {side['image'] or '-'}")
    else:
        printer.line("   Sidecar: NOT INJECTED")
    printer.line(f"   Mesh: {doc['mesh_config']}, auto mTLS {'on' if doc['auto_mtls'] else 'off'}")
    if doc.get("sidecar_resource"):
        printer.line(f"   {doc['sidecar_resource']}: egress hosts "
                     + ", ".join(doc.get("sidecar_egress") or ["(all)"]))
    for svc in doc["services"]:
        _render_service(printer, svc, doc["auto_mtls"])
    _render_peer_authentication(printer, doc.get("peer_authentication"))
    _render_authorization(printer, doc)
    for warning in doc["warnings"]:
        printer.line(printer.style("WARNING: ", "yellow", bold=True) + warning)


def _render_service(printer: Printer, svc: dict[str, Any], auto_mtls: bool) -> None:
    printer.line(f"Service: {svc['name']}")
    for p in svc["ports"]:
        declared = {True: "", False: " (NOT DECLARED by the pod)", None: ""}[
            p["target_port_declared"]]
        name = f"{p['name']} " if p.get("name") else ""
        printer.line(f"   Port: {name}{p['port']}/{p['protocol']} (from {p['protocol_from']}) "
                     f"targets pod port {p['target_port']}{declared}; mTLS {p['mtls_mode']} "
                     f"({p['mtls_source']})")
    dr = svc["destination_rule"]
    if dr:
        printer.line(f"DestinationRule: {dr['name']} for \"{dr['host']}\"")
        if dr.get("has_subsets", True):
            printer.line("   Matching subsets: " + (",".join(dr["matching_subsets"]) or "none"))
            if dr["non_matching_subsets"]:
                printer.line("      (Non-matching subsets " + ",".join(dr["non_matching_subsets"])
                             + ")")
        if not dr.get("has_traffic_policy", True):
            printer.line("   No Traffic Policy")
        if dr["tls_mode"]:
            printer.line(f"   Traffic Policy TLS Mode: {dr['tls_mode']}")
        elif dr.get("has_traffic_policy", True):
            printer.line("   Traffic Policy TLS Mode: (none: "
                         + ("auto mTLS picks it)" if auto_mtls else "plaintext)"))
        if dr["policies"]:
            printer.line("   Policies: " + "/".join(dr["policies"]))
        for pl in dr["port_level"]:
            printer.line(f"   Port {pl['port']}: TLS Mode {pl['tls_mode'] or '(none)'}"
                         + (f", policies {'/'.join(pl['policies'])}" if pl["policies"] else ""))
    else:
        printer.line("DestinationRule: none")
    for vs in svc["virtual_services"]:
        where = "" if vs.get("for_this_service") else " (routes here from elsewhere)"
        if not vs.get("applies_to_sidecars", True):
            where += (f" (gateways {', '.join(vs['gateways'])} only: not applied to calls "
                      "from sidecars)")
        printer.line(f"VirtualService: {vs['name']}{where}")
        counts = [f"{vs[k]} {label} route(s)" for k, label in
                  (("http_routes", "HTTP"), ("tcp_routes", "TCP"), ("tls_routes", "TLS"))
                  if vs.get(k)]
        if counts:
            printer.line("   " + ", ".join(counts))
        for r in vs["routes"]:
            weight = f" with weight {r['weight']}%" if r.get("weight") is not None else ""
            subset = f" subset {r['subset']}" if r.get("subset") else ""
            printer.line(f"   Route to host \"{r['host']}\"{subset}{weight}")
        for m in vs["matches"]:
            printer.line(f"   Match: {m}")


def _render_authorization(printer: Printer, doc: dict[str, Any]) -> None:
    """The AuthorizationPolicies and RequestAuthentications that apply to the pod (shown
    only when there are some: istioctl prints none of this)."""
    policies = doc.get("authorization_policies") or []
    if policies:
        printer.line("Applied AuthorizationPolicy:")
        for p in policies:
            rules = "no rules: allows nothing" if p["action"] == "ALLOW" and not p["rules"] \
                else f"{p['rules']} rule(s)"
            printer.line(f"   {p['name']} ({p['action']}, {rules})")
        if any(p["action"] == "ALLOW" for p in policies):
            printer.line("   requests no ALLOW rule matches are denied (403 RBAC: access denied)")
    if doc.get("request_authentications"):
        printer.line("Applied RequestAuthentication:")
        printer.line("   " + ", ".join(doc["request_authentications"]))


def _render_peer_authentication(printer: Printer, pa: dict[str, Any] | None) -> None:
    if not pa:
        return
    printer.line("Effective PeerAuthentication:")
    printer.line(f"   Workload mTLS mode: {pa['mode']} ({pa['source']})")
    if pa["port_modes"]:
        printer.line("   Port Level mTLS mode:")
        for port, mode in pa["port_modes"].items():
            printer.line(f"      {port}: {mode}")
    if pa["applied"]:
        printer.line("Applied PeerAuthentication:")
        printer.line("   " + ", ".join(pa["applied"]))
