"""Client TLS (DestinationRules) against what servers accept (PeerAuthentication).

Two ways to break every call: clients told to send plaintext (`tls.mode: DISABLE`, or a
DestinationRule with no `tls` block replacing a mesh-wide ISTIO_MUTUAL when auto mTLS is
off) to servers whose PeerAuthentication is STRICT; or servers told to accept only
plaintext (`DISABLE`) while the DestinationRules send ISTIO_MUTUAL. On objects alone
(audit) the verdict comes from the rules; in why-503 from what the two proxies really
hold, the rules serving as evidence and fix. When both ends agree, TLS is never blamed.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.why503_context import Why503Context, entry_text
from kubectl_meshdebug.kube.state import full_name, meta, ref
from kubectl_meshdebug.mesh import inbound, policy
from kubectl_meshdebug.mesh.commands import pod_hint, proxy_hint
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]
MESH_WIDE_HOSTS = {"*", "*.local", "*.cluster.local", "*.svc.cluster.local"}

DR_TLS_OVERRIDES_MTLS = FindingType(
    "dr-tls-overrides-mtls", "error",
    "A DestinationRule without `tls` replaces the mesh-wide ISTIO_MUTUAL (KIA0204)",
    kinds=("DestinationRule", "PeerAuthentication", "ConfigMap", "Service", "ServiceEntry",
           "Pod"),
    proxy=("clusters", "routes", "listeners", "log"),
    explains=("tls-mode-mismatch", "upstream-connect-failure", "app-resets-connection"))

TLS_MODE_MISMATCH = FindingType(
    "tls-mode-mismatch", "error",
    "Client TLS (DestinationRule) contradicts what the server's sidecar accepts (KIA0207, KIA0208, "
    "KIA0505, KIA0506)",
    kinds=("DestinationRule", "PeerAuthentication", "ConfigMap", "Service", "ServiceEntry",
           "Pod"),
    proxy=("clusters", "routes", "listeners", "log"),
    explains=("upstream-connect-failure", "app-resets-connection"))

PEERAUTH_STRICT_PLAINTEXT_CLIENT = FindingType(
    "peerauth-strict-plaintext-client", "error",
    "A client without a sidecar calls a server that requires mTLS",
    kinds=("PeerAuthentication", "Pod", "Service", "ConfigMap"),
    explains=("upstream-connect-failure",))

PEERAUTH_STRICT_WITHOUT_CLIENT_MTLS = FindingType(
    "peerauth-strict-without-client-mtls", "error",
    "mTLS is STRICT for the mesh or a namespace, auto mTLS is off and no DestinationRule "
    "makes clients send it (KIA0401, KIA0501)",
    kinds=("PeerAuthentication", "DestinationRule", "ConfigMap"),
    explains=("upstream-connect-failure",))

DR_MTLS_WITHOUT_PEERAUTH = FindingType(
    "dr-mtls-without-peerauth", "info",
    "A mesh- or namespace-wide DestinationRule sends ISTIO_MUTUAL, auto mTLS is off and no "
    "PeerAuthentication enables mTLS there (KIA0205, KIA0206)",
    kinds=("PeerAuthentication", "DestinationRule", "ConfigMap"))

SIDECAR_MISSING = FindingType(
    "sidecar-missing", "info", "A pod on the call's path has no sidecar",
    kinds=("Pod", "Service"), proxy=("clusters", "routes"),
    explains=("upstream-connect-failure",))


# ---------------------------------------------------------------------------------------
# audit: the rules alone


def _tls_mode(obj: Obj) -> str | None:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    tp = spec.get("trafficPolicy") if isinstance(spec.get("trafficPolicy"), dict) else {}
    tls = tp.get("tls") if isinstance(tp.get("tls"), dict) else {}
    mode = tls.get("mode")
    return str(mode) if mode else None


def _namespace_of_wide_host(host: str) -> str | None:
    """`*.bookinfo.svc.cluster.local` -> bookinfo."""
    if host.startswith("*.") and host.endswith(".svc.cluster.local"):
        middle = host[2:-len(".svc.cluster.local")]
        if middle and "." not in middle:
            return middle
    return None


def _scope_pa(ctx: AuditContext, namespace: str | None) -> Obj | None:
    """The namespace-wide (or, for None, mesh-wide) PeerAuthentication."""
    target = namespace or ctx.mesh.root_namespace
    for pa in ctx.list("PeerAuthentication"):
        spec = pa.get("spec") if isinstance(pa.get("spec"), dict) else {}
        if meta(pa).get("namespace") == target and not spec.get("selector"):
            return pa
    return None


def _pa_mode(pa: Obj | None) -> str | None:
    spec = (pa or {}).get("spec") if isinstance((pa or {}).get("spec"), dict) else {}
    mtls = spec.get("mtls") if isinstance(spec.get("mtls"), dict) else {}
    mode = mtls.get("mode")
    return None if mode in (None, "UNSET") else str(mode)


def _effective_server_mode(ctx: AuditContext, namespace: str | None) -> tuple[str, Obj | None]:
    """Mode for servers in a namespace: its own PA, else the mesh's, else PERMISSIVE."""
    if namespace:
        pa = _scope_pa(ctx, namespace)
        if _pa_mode(pa):
            return str(_pa_mode(pa)), pa
    pa = _scope_pa(ctx, None)
    return (str(_pa_mode(pa)), pa) if _pa_mode(pa) else ("PERMISSIVE", None)


def _wide_dr(ctx: AuditContext, namespace: str | None) -> Obj | None:
    """The DestinationRule that sets TLS for a whole namespace (or the mesh)."""
    drs = ctx.list("DestinationRule")
    if namespace:
        for dr in drs:
            if _namespace_of_wide_host(policy.dr_host(dr)) == namespace and _tls_mode(dr):
                return dr
    for dr in sorted(drs, key=lambda d: meta(d).get("namespace") != ctx.mesh.root_namespace):
        if policy.dr_host(dr) in MESH_WIDE_HOSTS and _tls_mode(dr):
            return dr
    return None


def tls_mode_mismatch_audit(ctx: AuditContext) -> list[Finding]:
    findings = []
    # clients sent plaintext where servers require mTLS
    for dr in ctx.list("DestinationRule"):
        if not ctx.in_scope(dr) or _tls_mode(dr) != "DISABLE":
            continue
        host = policy.dr_host(dr)
        if host in MESH_WIDE_HOSTS:
            server_ns = None
        elif _namespace_of_wide_host(host):
            server_ns = _namespace_of_wide_host(host)
        else:
            svc = next((e for e in ctx.registry if e.host == host), None)
            if svc is None:
                continue
            server_ns = svc.namespace
        mode, pa = _effective_server_mode(ctx, server_ns)
        if mode != "STRICT":
            continue
        findings.append(TLS_MODE_MISMATCH(
            f"{ref(dr)} makes clients send plaintext to {host}, but {ref(pa)} requires mTLS "
            "(STRICT): every call is reset by the server sidecar (503 UC)",
            [Evidence(ref(dr), "trafficPolicy.tls.mode: DISABLE"),
             Evidence(ref(pa), "mtls.mode: STRICT")],
            fix="Remove tls.mode DISABLE (or use ISTIO_MUTUAL), or make the servers "
                "PERMISSIVE with a PeerAuthentication if they must accept plaintext.",
            resource=ref(dr), weight=3))
    # servers accept only plaintext where clients send mTLS
    for pa in ctx.list("PeerAuthentication"):
        spec = pa.get("spec") if isinstance(pa.get("spec"), dict) else {}
        if not ctx.in_scope(pa) or spec.get("selector") or _pa_mode(pa) != "DISABLE":
            continue
        namespace = str(meta(pa).get("namespace"))
        mesh_wide = namespace == ctx.mesh.root_namespace
        dr = _wide_dr(ctx, None if mesh_wide else namespace)
        if dr is None or _tls_mode(dr) not in ("ISTIO_MUTUAL", "MUTUAL"):
            continue
        scope = "the mesh" if mesh_wide else f"namespace {namespace}"
        findings.append(TLS_MODE_MISMATCH(
            f"{ref(pa)} disables mTLS for {scope}, but {ref(dr)} still makes clients send "
            f"{_tls_mode(dr)}: servers reject the TLS handshake (503 UF)",
            [Evidence(ref(pa), "mtls.mode: DISABLE"),
             Evidence(ref(dr), f"host {policy.dr_host(dr)}: tls.mode {_tls_mode(dr)}")],
            fix=(f"Add a DestinationRule with tls.mode DISABLE for {scope}, e.g.\n"
                 f"  spec:\n    host: \"*.{one_line(namespace)}.svc.cluster.local\"\n"
                 "    trafficPolicy:\n      tls:\n        mode: DISABLE"
                 if not mesh_wide else
                 "Set the mesh-wide DestinationRule's tls.mode to DISABLE as well, or keep "
                 "PeerAuthentication PERMISSIVE."),
            resource=ref(pa), weight=3))
    return findings


def peerauth_strict_without_client_mtls(ctx: AuditContext) -> list[Finding]:
    """With auto mTLS off, clients send mTLS only where a DestinationRule says
    ISTIO_MUTUAL: a STRICT mesh or namespace without such a rule rejects every call from
    a client that has none (Kiali's MeshMtlsChecker and NamespaceMtlsChecker)."""
    if ctx.mesh.auto_mtls:
        return []
    findings = []
    for pa in ctx.list("PeerAuthentication"):
        spec = pa.get("spec") if isinstance(pa.get("spec"), dict) else {}
        if not ctx.in_scope(pa) or spec.get("selector") or _pa_mode(pa) != "STRICT":
            continue
        namespace = str(meta(pa).get("namespace"))
        mesh_wide = namespace == ctx.mesh.root_namespace
        dr = _wide_dr(ctx, None if mesh_wide else namespace)
        if dr is not None and _tls_mode(dr) == "ISTIO_MUTUAL":
            continue
        scope = "the mesh" if mesh_wide else f"namespace {namespace}"
        host = "*.local" if mesh_wide else f"*.{one_line(namespace)}.svc.cluster.local"
        findings.append(PEERAUTH_STRICT_WITHOUT_CLIENT_MTLS(
            f"{ref(pa)} requires mTLS for {scope}, but auto mTLS is off and no DestinationRule "
            f"for {host} sends ISTIO_MUTUAL: a client without its own rule sends plaintext "
            "and the server sidecar resets the call (503 UC)",
            [Evidence(ref(pa), "mtls.mode: STRICT"),
             Evidence(ctx.mesh.source, "enableAutoMtls: false")]
            + ([Evidence(ref(dr), f"tls.mode: {_tls_mode(dr)}")] if dr is not None else []),
            fix=(f"Add a DestinationRule that makes clients send mTLS to {scope}:\n"
                 f"  spec:\n    host: \"{host}\"\n    trafficPolicy:\n      tls:\n"
                 "        mode: ISTIO_MUTUAL\nor turn on enableAutoMtls in the mesh config."),
            resource=ref(pa), weight=3))
    return findings


def dr_mtls_without_peerauth(ctx: AuditContext) -> list[Finding]:
    """Kiali's MeshWideMTLSChecker and NamespaceWideMTLSChecker: a DestinationRule sending
    ISTIO_MUTUAL everywhere with no PeerAuthentication saying the servers take it. It works
    (Istio's default is PERMISSIVE), so this is information, not an error."""
    if ctx.mesh.auto_mtls:
        return []
    findings = []
    for dr in ctx.list("DestinationRule"):
        if not ctx.in_scope(dr) or _tls_mode(dr) != "ISTIO_MUTUAL":
            continue
        host = str((dr.get("spec") or {}).get("host") or "")
        namespace = _namespace_of_wide_host(policy.dr_host(dr))
        if host != "*.local" and namespace != meta(dr).get("namespace"):
            continue
        modes = [_pa_mode(_scope_pa(ctx, None))]
        if host != "*.local":
            modes.append(_pa_mode(_scope_pa(ctx, namespace)))
        if any(m in ("STRICT", "PERMISSIVE") for m in modes):
            continue
        scope = "the mesh" if host == "*.local" else f"namespace {namespace}"
        findings.append(DR_MTLS_WITHOUT_PEERAUTH(
            f"{ref(dr)} makes clients send ISTIO_MUTUAL to {scope}, but no PeerAuthentication "
            f"enables mTLS for {scope}: it works only because Istio's default is PERMISSIVE",
            [Evidence(ref(dr), f"host {one_line(host)}: tls.mode ISTIO_MUTUAL"),
             Evidence(ctx.mesh.source, "enableAutoMtls: false")],
            fix=(f"State the servers' side too, with a PeerAuthentication in "
                 f"{one_line(namespace or ctx.mesh.root_namespace)}:\n  spec:\n    mtls:\n"
                 "      mode: STRICT   # or PERMISSIVE while clients migrate"),
            resource=ref(dr)))
    return findings


def dr_tls_overrides_mtls_audit(ctx: AuditContext) -> list[Finding]:
    if ctx.mesh.auto_mtls:
        return []  # auto mTLS fills in ISTIO_MUTUAL for sidecar endpoints
    findings = []
    for dr in ctx.list("DestinationRule"):
        if not ctx.in_scope(dr) or _tls_mode(dr):
            continue
        host = policy.dr_host(dr)
        if host in MESH_WIDE_HOSTS:
            continue
        svc = next((e for e in ctx.registry if e.host == host), None)
        server_ns = svc.namespace if svc else _namespace_of_wide_host(host)
        wide = _wide_dr(ctx, server_ns)
        if wide is None or wide is dr or _tls_mode(wide) != "ISTIO_MUTUAL":
            continue
        mode, pa = _effective_server_mode(ctx, server_ns)
        strict = mode == "STRICT"
        findings.append(DR_TLS_OVERRIDES_MTLS(
            f"{ref(dr)} for {host} has no tls block: its trafficPolicy replaces {ref(wide)}'s "
            "ISTIO_MUTUAL and auto mTLS is off, so clients send plaintext"
            + (f" to servers that require mTLS ({ref(pa)}): 503 UC on every call" if strict
               else ""),
            [Evidence(ref(dr), "trafficPolicy has no tls"),
             Evidence(ref(wide), "tls.mode: ISTIO_MUTUAL"),
             Evidence(ctx.mesh.source, "enableAutoMtls: false")]
            + ([Evidence(ref(pa), "mtls.mode: STRICT")] if strict and pa else []),
            fix=("Add the TLS mode to this DestinationRule's trafficPolicy:\n"
                 "  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n"
                 "or turn on enableAutoMtls in the mesh config."),
            resource=ref(dr), severity="error" if strict else "warning", weight=4))
    return findings


# ---------------------------------------------------------------------------------------
# why-503: what the proxies really hold


def client_sends(ctx: Why503Context) -> tuple[bool | None, str, str]:
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
        if mode == "simple":
            return None, name, mode  # TLS to something outside the mesh: not our question
        return False, name, mode
    return None, "", ""


_REQUIRES = {"mtls": "requires mTLS (client certificate)", "tls": "requires TLS",
             "plaintext": "plaintext only", "tls-passthrough": "TLS passed through"}


def server_requires(ctx: Why503Context) -> tuple[str | None, list[Evidence]]:
    """'mtls', 'plaintext' or 'both' as the server sidecars enforce it, with evidence;
    from their listeners when read, else from the PeerAuthentication that applies."""
    evidence = []
    verdicts = set()
    for server in ctx.servers:
        chains = ctx.inbound_chains(server)
        verdict = inbound.requirement(chains)
        if verdict is None:
            continue
        verdicts.add(verdict)
        for chain in chains[:3]:
            port = f" (port {chain.port})" if chain.port is not None else ""
            evidence.append(Evidence(
                f"envoy {server.label} listeners",
                f"{chain.listener} chain {chain.chain.name or '(unnamed)'}{port}: "
                f"{_REQUIRES[chain.accepts]}"))
    if verdicts:
        if len(verdicts) == 1:
            return verdicts.pop(), evidence
        return "both", evidence
    mode = ctx.server_mode
    if mode is not None:
        evidence.append(Evidence(mode.source, f"mtls.mode {mode.mode}"))
        return {"STRICT": "mtls", "DISABLE": "plaintext"}.get(mode.mode, "both"), evidence
    return None, evidence


def _log_evidence(ctx: Why503Context, flag: str) -> list[Evidence]:
    out = [Evidence(f"envoy {ctx.client.label} access log", entry_text(e))
           for e in ctx.failures(flag)[-2:]]
    for server in ctx.servers:
        out += [Evidence(f"envoy {server.label} log", s.line) for s in server.log_signals
                if s.kind == "tls-error"][:2]
    return out


def _spec_keys(dr: Obj) -> str:
    spec = dr.get("spec") if isinstance(dr.get("spec"), dict) else {}
    tp = spec.get("trafficPolicy") if isinstance(spec.get("trafficPolicy"), dict) else {}
    return ", ".join(sorted(tp)) or "(empty)"


def _tls_checks(ctx: Why503Context) -> list[Finding]:
    sends_tls, cluster, mode = client_sends(ctx)
    if sends_tls is None:
        return []
    needs, server_evidence = server_requires(ctx)
    if needs is None or needs == "both" or needs == "tls":
        return []
    rec = ctx.cluster(cluster)
    client_ev = Evidence(f"envoy {ctx.client.label} clusters",
                         f"{cluster}: TLS {mode}" + ("" if rec is None or mode != "none" else
                                                     " (no transport_socket: plaintext)"))
    dr = ctx.destination_rule
    mesh = ctx.mesh.mesh if ctx.mesh else None
    resource = ref(dr) if dr else (f"Service {ctx.target.namespace}/{ctx.target.name}"
                                   if ctx.target.name else ctx.target.host)
    if not sends_tls and needs == "mtls":
        tls_block = (policy.effective_traffic_policy(dr, ctx.target.port).get("tls")
                     if dr else None)
        if dr is not None and mesh is not None and not tls_block and not mesh.auto_mtls:
            return [DR_TLS_OVERRIDES_MTLS(
                f"{ref(dr)} has no tls block, so its trafficPolicy replaces the mesh-wide "
                f"ISTIO_MUTUAL (auto mTLS is off): {ctx.client.label} sends plaintext to "
                f"{ctx.target.label}, whose sidecars require mTLS, and every call is 503 UC "
                "(upstream connect error or disconnect/reset before headers)",
                [client_ev, Evidence(ref(dr), f"trafficPolicy: {_spec_keys(dr)}; no tls"),
                 Evidence(mesh.source, "enableAutoMtls: false")] + server_evidence
                + _log_evidence(ctx, "UC"),
                fix=(f"Add ISTIO_MUTUAL to {ref(dr)}:\n  spec:\n    trafficPolicy:\n"
                     "      tls:\n        mode: ISTIO_MUTUAL\n"
                     "      connectionPool: ...   # keep what you had"),
                resource=ref(dr), weight=9)]
        expected = policy.expected_client_tls(dr, mesh, ctx.target.port) if mesh else None
        why = expected.reason if expected else f"the cluster has TLS mode {mode}"
        if dr is not None:
            fix = (f"Use tls.mode ISTIO_MUTUAL in {ref(dr)} (or remove its tls.mode DISABLE), "
                   "or let the server accept plaintext with a PERMISSIVE PeerAuthentication.")
        else:
            fix = ("No DestinationRule sets TLS for this host, so the mesh's default decides: "
                   "turn on enableAutoMtls in the mesh config, or add a DestinationRule with "
                   "tls.mode ISTIO_MUTUAL for the host; or let the server accept plaintext "
                   "with a PERMISSIVE PeerAuthentication.")
        return [TLS_MODE_MISMATCH(
            f"{ctx.client.label} sends plaintext to {ctx.target.label} ({why}), but its "
            "sidecars require mTLS: every call is 503 UC", [client_ev] + server_evidence
            + _log_evidence(ctx, "UC"), fix=fix, resource=resource, weight=9)]
    if sends_tls and needs == "plaintext":
        fix = (f"Make {ref(dr)}'s tls.mode DISABLE for this host, or stop disabling mTLS on "
               "the server (PERMISSIVE)." if dr is not None else
               "Stop disabling mTLS on the server (PERMISSIVE), or add a DestinationRule "
               "with tls.mode DISABLE for this host.")
        return [TLS_MODE_MISMATCH(
            f"{ctx.client.label} sends mTLS to {ctx.target.label}, but its sidecars accept only "
            "plaintext (PeerAuthentication DISABLE): the handshake fails, 503 UF",
            [client_ev] + server_evidence + _log_evidence(ctx, "UF"), fix=fix,
            resource=resource, weight=9)]
    return []


def dr_tls_overrides_mtls_call(ctx: Why503Context) -> list[Finding]:
    return [f for f in _tls_checks(ctx) if f.type is DR_TLS_OVERRIDES_MTLS]


def tls_mode_mismatch_call(ctx: Why503Context) -> list[Finding]:
    return [f for f in _tls_checks(ctx) if f.type is TLS_MODE_MISMATCH]


def sidecar_missing(ctx: Why503Context) -> list[Finding]:
    bare = [p for p in ctx.ready_server_pods if not ctx.has_sidecar(p)]
    if not bare:
        return []
    _sends, cluster, mode = client_sends(ctx)
    explicit = mode in ("istio-mutual", "mutual")
    names = ", ".join(str(meta(p).get("name", "")) for p in bare)
    pod = bare[0]
    return [SIDECAR_MISSING(
        f"pods behind {ctx.target.label} have no sidecar ({names})"
        + (f": the client's cluster {cluster} forces mTLS, which they cannot answer "
           "(503 UF/UC)" if explicit else ": calls to them are plaintext, outside mTLS "
           "and telemetry"),
        [Evidence(f"Pod {full_name(p)}",
                  "containers: " + ", ".join(str(c.get("name", "")) for c in (
                      p.get("spec") or {}).get("containers") or [] if isinstance(c, dict)))
         for p in bare[:3]],
        fix=pod_hint("check-inject", str(meta(pod).get("name")), str(meta(pod).get("namespace"))),
        resource=f"Pod {full_name(pod)}",
        severity="error" if explicit else "info", weight=6 if explicit else 1)]


def peerauth_strict_plaintext_client(ctx: Why503Context) -> list[Finding]:
    pod = ctx.mesh.client_pod if ctx.mesh else None
    if pod is None or ctx.has_sidecar(pod):
        return []
    mode = ctx.server_mode
    if mode is None or mode.mode != "STRICT":
        return []
    return [PEERAUTH_STRICT_PLAINTEXT_CLIENT(
        f"{ctx.client.label} has no sidecar, so it calls {ctx.target.label} in plaintext, but "
        f"{mode.source} requires mTLS: the server sidecar resets every connection "
        "(curl: 'connection reset by peer' / 'empty reply')",
        [Evidence(f"Pod {ctx.client.label}", "no istio-proxy container"),
         Evidence(mode.source, "mtls.mode STRICT")],
        fix=(f"Inject the client ({proxy_hint('check-inject', ctx.client.label)}), or "
             "allow plaintext on this port:\n  spec:\n    mtls:\n      mode: PERMISSIVE"),
        resource=f"Pod {ctx.client.label}", weight=9)]
