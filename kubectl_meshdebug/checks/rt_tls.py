"""Does the client speak the TLS the server sidecar expects, and is the port's protocol
declared the way it is really spoken?"""

from __future__ import annotations

from kubectl_meshdebug.checks.finding import Evidence, Finding
from kubectl_meshdebug.checks.registry import CheckInfo, runtime_check
from kubectl_meshdebug.checks.why503_context import Why503Context, entry_text
from kubectl_meshdebug.kube.state import meta, ref
from kubectl_meshdebug.mesh import policy
from kubectl_meshdebug.mesh.protocol import TLS_PORTS, is_http, port_protocol


def _client_sends_tls(ctx: Why503Context) -> tuple[bool | None, str, str]:
    """(mTLS sent?, cluster name, TLS mode of the cluster) for the call's first cluster."""
    for name in ctx.target_clusters:
        rec = ctx.cluster(name)
        if rec is None:
            continue
        mode = rec.tls.mode
        if mode in ("istio-mutual", "mutual"):
            return True, name, mode
        if mode == "auto":
            sidecars = [ctx.has_sidecar(p) for p in ctx.ready_server_pods]
            return (all(sidecars) if sidecars else None), name, mode
        return False, name, mode
    return None, "", ""


_REQUIRES = {"mtls": "requires mTLS (client certificate)", "tls": "requires TLS",
             "plaintext": "plaintext only"}


def _server_requirement(ctx: Why503Context) -> tuple[str | None, list[Evidence]]:
    """'mtls', 'plaintext' or 'both' as the server sidecars enforce it, with evidence."""
    evidence = []
    kinds = set()
    for server in ctx.servers:
        for chain in ctx.inbound_chains(server):
            kind = "mtls" if chain.tls_client_cert_required else (
                "tls" if chain.tls_required else "plaintext")
            kinds.add(kind)
            port = (f" (port {chain.match['destination_port']})"
                    if "destination_port" in chain.match else "")
            evidence.append(Evidence(
                f"envoy {server.label} listeners",
                f"inbound chain {chain.name or '(unnamed)'}{port}: {_REQUIRES[kind]}"))
    if kinds:
        if kinds == {"mtls"}:
            return "mtls", evidence
        if "plaintext" in kinds and len(kinds) == 1:
            return "plaintext", evidence
        return "both", evidence
    mode = ctx.server_mode
    if mode is not None:
        evidence.append(Evidence(mode.source, f"mtls.mode {mode.mode}"))
        return {"STRICT": "mtls", "DISABLE": "plaintext"}.get(mode.mode, "both"), evidence
    return None, evidence


def _uc_evidence(ctx: Why503Context, flag: str) -> list[Evidence]:
    out = [Evidence(f"envoy {ctx.client.label} access log",
                    entry_text(e))
           for e in ctx.failures(flag)[-2:]]
    for server in ctx.servers:
        out += [Evidence(f"envoy {server.label} log", s.line) for s in server.log_signals
                if s.kind == "tls-error"][:2]
    return out


@runtime_check(CheckInfo("dr-tls-overrides-mtls",
                         "A DestinationRule without `tls` replaces the mesh-wide ISTIO_MUTUAL",
                         ("DestinationRule", "PeerAuthentication", "ConfigMap"), audit=True))
def dr_tls_overrides_mtls(ctx: Why503Context) -> list[Finding]:
    return [f for f in _tls(ctx) if f.id == "dr-tls-overrides-mtls"]


@runtime_check(CheckInfo("tls-mode-mismatch",
                         "Client TLS (DestinationRule) contradicts the server's "
                         "PeerAuthentication", ("DestinationRule", "PeerAuthentication"),
                         audit=True))
def tls_mode_mismatch(ctx: Why503Context) -> list[Finding]:
    return [f for f in _tls(ctx) if f.id == "tls-mode-mismatch"]


def _tls(ctx: Why503Context) -> list[Finding]:
    sends_tls, cluster, mode = _client_sends_tls(ctx)
    if sends_tls is None:
        return []
    needs, server_evidence = _server_requirement(ctx)
    if needs is None or needs == "both":
        return []
    rec = ctx.cluster(cluster)
    client_ev = Evidence(f"envoy {ctx.client.label} clusters",
                         f"{cluster}: TLS {mode}" + ("" if rec is None or mode != "none" else
                                                     " (no transport_socket: plaintext)"))
    dr = ctx.destination_rule
    mesh = ctx.mesh.mesh if ctx.mesh else None
    if not sends_tls and needs == "mtls":
        expected = policy.expected_client_tls(dr, mesh, ctx.target.port) if mesh else None
        tls_block = ((policy.effective_traffic_policy(dr, ctx.target.port)
                      if dr else {}).get("tls"))
        if dr is not None and mesh is not None and not tls_block and not mesh.auto_mtls:
            return [Finding(
                "dr-tls-overrides-mtls", "error",
                f"{ref(dr)} has no tls block, so its trafficPolicy replaces the mesh-wide "
                f"ISTIO_MUTUAL (auto mTLS is off): {ctx.client.label} sends plaintext to "
                f"{ctx.target.label}, whose sidecars require mTLS, and every call is 503 UC "
                "(upstream connect error or disconnect/reset before headers)",
                [client_ev, Evidence(ref(dr), "trafficPolicy: "
                                     + ", ".join(sorted((dr.get("spec") or {}).get(
                                         "trafficPolicy", {}).keys())) + "; no tls"),
                 Evidence(mesh.source, "enableAutoMtls: false")] + server_evidence
                + _uc_evidence(ctx, "UC"),
                fix=(f"Add ISTIO_MUTUAL to {ref(dr)}:\n  spec:\n    trafficPolicy:\n"
                     "      tls:\n        mode: ISTIO_MUTUAL\n"
                     "      connectionPool: ...   # keep what you had"),
                resource=ref(dr), explains=9)]
        why = expected.reason if expected else f"the cluster has TLS mode {mode}"
        return [Finding(
            "tls-mode-mismatch", "error",
            f"{ctx.client.label} sends plaintext to {ctx.target.label} ({why}), but its "
            "sidecars require mTLS: every call is 503 UC", [client_ev] + server_evidence
            + _uc_evidence(ctx, "UC"),
            fix="Use tls.mode ISTIO_MUTUAL in the DestinationRule (or remove tls.mode DISABLE), "
                "or allow plaintext on the server with a PERMISSIVE PeerAuthentication.",
            resource=ref(dr) if dr else f"Service {ctx.target.namespace}/{ctx.target.name}",
            explains=9)]
    if sends_tls and needs == "plaintext":
        return [Finding(
            "tls-mode-mismatch", "error",
            f"{ctx.client.label} sends mTLS to {ctx.target.label}, but its sidecars accept only "
            "plaintext (PeerAuthentication DISABLE): the handshake fails, 503 UF",
            [client_ev] + server_evidence + _uc_evidence(ctx, "UF"),
            fix="Make the DestinationRule's tls.mode DISABLE for this host, or stop disabling "
                "mTLS on the server (PERMISSIVE).",
            resource=ref(dr) if dr else f"Service {ctx.target.namespace}/{ctx.target.name}",
            explains=9)]
    return []


@runtime_check(CheckInfo("port-protocol-mismatch",
                         "A TLS port (443, 8443, ...) is declared as plaintext HTTP",
                         ("Service",), audit=True))
def port_protocol_mismatch(ctx: Why503Context) -> list[Finding]:
    if ctx.state is None or ctx.target.port not in TLS_PORTS:
        return []
    offenders = []
    for svc in ctx.state.list("Service"):
        for port in (svc.get("spec") or {}).get("ports") or []:
            proto, how = port_protocol(port)
            if port.get("port") == ctx.target.port and is_http(proto) and how != "sniffed":
                offenders.append((svc, port, proto, how))
    if not offenders:
        return []
    http_listener = [name for name, chain in ctx.listener_chains if chain.route_config]
    evidence = [Evidence(ref(svc), f"port {port.get('port')} name {port.get('name')!r} -> "
                                   f"{proto} (by {how})") for svc, port, proto, how in offenders]
    if http_listener:
        vhosts = sorted({r.virtual_host for r in ctx.routes_for_port})
        evidence.append(Evidence(f"envoy {ctx.client.label} listeners",
                                 f"{http_listener[0]} is an HTTP listener with route config "
                                 f"{ctx.target.port}: " + ", ".join(vhosts[:5])))
    target_is_victim = ctx.target.external or all(
        svc is not ctx.target.service for svc, *_ in offenders)
    svc, port, *_ = offenders[0]
    return [Finding(
        "port-protocol-mismatch", "error",
        f"Service {meta(svc).get('namespace')}/{meta(svc).get('name')} names port "
        f"{ctx.target.port} '{port.get('name')}', so every sidecar treats port "
        f"{ctx.target.port} as plaintext HTTP: TLS to {ctx.target.label} through the sidecar "
        "meets an HTTP parser and fails ('wrong version number', or a 400/404)",
        evidence,
        fix=(f"Rename the port to 'https' (or set appProtocol: https) in "
             f"{ref(svc)}:\n  ports:\n  - name: https\n    port: {ctx.target.port}\n"
             f"    targetPort: {port.get('targetPort', ctx.target.port)}"),
        resource=ref(svc), explains=9 if target_is_victim else 5)]


@runtime_check(CheckInfo("sidecar-missing", "A pod on the call's path has no sidecar",
                         ("Pod", "Namespace"), audit=False))
def sidecar_missing(ctx: Why503Context) -> list[Finding]:
    findings = []
    bare = [p for p in ctx.ready_server_pods if not ctx.has_sidecar(p)]
    if bare:
        sends_tls, cluster, mode = _client_sends_tls(ctx)
        explicit = mode in ("istio-mutual", "mutual")
        names = ", ".join(meta(p).get("name", "") for p in bare)
        findings.append(Finding(
            "sidecar-missing", "error" if explicit else "info",
            f"pods behind {ctx.target.label} have no sidecar ({names})"
            + (f": the client's cluster {cluster} forces mTLS, which they cannot answer "
               "(503 UF/UC)" if explicit else ": calls to them are plaintext, outside mTLS "
               "and telemetry"),
            [Evidence(f"Pod {meta(p).get('namespace')}/{meta(p).get('name')}",
                      "containers: " + ", ".join(c.get("name", "") for c in (
                          p.get("spec") or {}).get("containers") or [])) for p in bare[:3]],
            fix=f"kubectl meshdebug check-inject {meta(bare[0]).get('name')} -n "
                f"{meta(bare[0]).get('namespace')}",
            resource=f"Pod {meta(bare[0]).get('namespace')}/{meta(bare[0]).get('name')}",
            explains=6 if explicit else 1))
    return findings


@runtime_check(CheckInfo("peerauth-strict-plaintext-client",
                         "A client without a sidecar calls a server that requires mTLS",
                         ("PeerAuthentication", "Pod"), audit=False))
def peerauth_strict_plaintext_client(ctx: Why503Context) -> list[Finding]:
    pod = ctx.mesh.client_pod if ctx.mesh else None
    if pod is None or ctx.has_sidecar(pod):
        return []
    mode = ctx.server_mode
    if mode is None or mode.mode != "STRICT":
        return []
    return [Finding(
        "peerauth-strict-plaintext-client", "error",
        f"{ctx.client.label} has no sidecar, so it calls {ctx.target.label} in plaintext, but "
        f"{mode.source} requires mTLS: the server sidecar resets every connection "
        "(curl: 'connection reset by peer' / 'empty reply')",
        [Evidence(f"Pod {ctx.client.label}", "no istio-proxy container"),
         Evidence(mode.source, "mtls.mode STRICT")],
        fix=(f"Inject the client (kubectl meshdebug check-inject {meta(pod).get('name')}), or "
             "allow plaintext on this port:\n  spec:\n    mtls:\n      mode: PERMISSIVE"),
        resource=f"Pod {ctx.client.label}", explains=9)]


@runtime_check(CheckInfo("protocol-conflict",
                         "One port number is HTTP for some Services and TCP for others",
                         ("Service",), audit=True))
def protocol_conflict_on_port(ctx: Why503Context) -> list[Finding]:
    """The audit check, for the call's port only: it explains odd routing on that port."""
    if ctx.state is None:
        return []
    from kubectl_meshdebug.checks.context import AuditContext
    from kubectl_meshdebug.checks.ports import protocol_conflict

    audit_ctx = AuditContext.build(ctx.state, None)
    return [f for f in protocol_conflict(audit_ctx)
            if f.summary.startswith(f"port {ctx.target.port} ")]
