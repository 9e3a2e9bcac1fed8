"""DestinationRules that originate TLS without checking who answers (istioctl's
destinationrule.CaCertificateAnalyzer).

With `tls.mode: SIMPLE` or `MUTUAL` and no `caCertificates`, the sidecar encrypts but
accepts any server certificate: a man in the middle is not noticed. A `credentialName`
can hold the CA too, but its Secret is read in the namespace of each proxy the rule
applies to, so Istio counts it only on a rule with a workloadSelector (as a gateway's
egress rule is written).
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import as_dict, full_name, ref

Obj = dict[str, Any]

DR_TLS_NO_CA = FindingType(
    "dr-tls-no-ca", "warning",
    "A DestinationRule originates TLS without caCertificates: the server is not verified "
    "(IST0128)",
    kinds=("DestinationRule",))

DR_PORT_TLS_NO_CA = FindingType(
    "dr-port-tls-no-ca", "warning",
    "A DestinationRule port originates TLS without caCertificates: the server is not "
    "verified (IST0129)",
    kinds=("DestinationRule",))



def _unverified(tls: Obj, has_selector: bool) -> bool:
    return str(tls.get("mode") or "") in ("SIMPLE", "MUTUAL") and not tls.get(
        "caCertificates") and not (tls.get("credentialName") and has_selector)


def dr_tls_without_ca(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    for dr in ctx.list("DestinationRule"):
        if not ctx.in_scope(dr):
            continue
        spec = as_dict(dr.get("spec"))
        policy = as_dict(spec.get("trafficPolicy"))
        selector = bool(as_dict(spec.get("workloadSelector")))
        name = full_name(dr)
        host = str(spec.get("host") or "")
        fix = ("Set caCertificates to the CA bundle that signed the server's certificate "
               "(a path in the proxy), or use credentialName on a gateway's rule; and "
               "subjectAltNames to pin the server's name.")
        tls = as_dict(policy.get("tls"))
        if _unverified(tls, selector):
            findings.append(DR_TLS_NO_CA(
                f"DestinationRule {name} sends TLS {tls.get('mode')} to {host} without "
                "caCertificates: any server certificate is accepted",
                [Evidence(ref(dr), f"trafficPolicy.tls.mode: {tls.get('mode')}, no "
                                   "caCertificates")],
                fix=fix, resource=ref(dr)))
        for setting in policy.get("portLevelSettings") or []:
            tls = as_dict(as_dict(setting).get("tls"))
            if not _unverified(tls, selector):
                continue
            port = as_dict(as_dict(setting).get("port")).get("number")
            findings.append(DR_PORT_TLS_NO_CA(
                f"DestinationRule {name} sends TLS {tls.get('mode')} to {host} port {port} "
                "without caCertificates: any server certificate is accepted",
                [Evidence(ref(dr), f"portLevelSettings port {port}: tls.mode "
                                   f"{tls.get('mode')}, no caCertificates")],
                fix=fix, resource=ref(dr)))
    return findings
