"""What is wrong with the certificates a proxy holds, for mTLS to work.

pilot-agent gets the workload certificate from istiod's CA (a CSR over the XDS port) and
hands it to Envoy over SDS as `default`, with the roots as `ROOTCA`. It renews the
certificate when half its lifetime has passed (SECRET_GRACE_PERIOD_RATIO, 0.5), so a
certificate near its end, or past it, means renewal failed. After a CA change the roots
istiod publishes (ConfigMap `istio-ca-root-cert` in each namespace) differ from what a
proxy that was not restarted trusts; proxies with no root in common cannot talk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.envoy.certificates import CertInfo, SecretItem, parse_pem_bundle, rfc3339
from kubectl_meshdebug.kube.state import meta
from kubectl_meshdebug.mesh.commands import kubectl_hint
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

# what a certificate problem looks like from the caller: the handshake fails
TLS_SYMPTOMS = ("upstream-connect-failure", "app-resets-connection", "tls-mode-mismatch")

CERT_MISSING = FindingType(
    "cert-missing", "error",
    "The proxy holds no workload certificate (SDS `default` missing or not delivered)",
    kinds=("Pod", "ConfigMap"), proxy=("secrets",),
    explains=TLS_SYMPTOMS)
CERT_EXPIRED = FindingType(
    "cert-expired", "error", "A certificate the proxy uses has expired or is not valid yet",
    kinds=("Pod", "ConfigMap"), proxy=("secrets",), explains=TLS_SYMPTOMS)
CERT_NOT_ROTATED = FindingType(
    "cert-not-rotated", "warning",
    "The workload certificate is near its end: pilot-agent did not renew it at half-life",
    kinds=("Pod", "ConfigMap"), proxy=("secrets",))
CERT_IDENTITY_MISMATCH = FindingType(
    "cert-identity-mismatch", "error",
    "The workload certificate names another identity than the pod's service account",
    kinds=("Pod", "ConfigMap"), proxy=("secrets",),
    explains=TLS_SYMPTOMS)
ROOT_CA_MISMATCH = FindingType(
    "root-ca-mismatch", "error",
    "Roots differ: the certificate, the proxy's ROOTCA and istiod's published root disagree",
    kinds=("Pod", "ConfigMap"), proxy=("secrets",),
    explains=TLS_SYMPTOMS)

WORKLOAD_SECRET = "default"
ROOT_SECRET = "ROOTCA"
RENEWAL_OVERDUE = 0.3  # renewal is due at 0.5 of the lifetime left; below this it failed
ROOT_CONFIGMAP = "istio-ca-root-cert"


def _find(items: list[SecretItem], name: str) -> SecretItem | None:
    return next((i for i in items if i.name == name and i.state == "ACTIVE"), None) or \
        next((i for i in items if i.name == name), None)


def _cert_words(cert: CertInfo) -> str:
    who = ", ".join(cert.identities) or cert.subject
    return (f"serial {cert.serial_number}, {who}, valid {rfc3339(cert.not_before)} to "
            f"{rfc3339(cert.not_after)}")


def _roots_words(certs: list[CertInfo]) -> str:
    """Roots as evidence: subject and the start of the SHA-256 fingerprint they differ by."""
    return "; ".join(f"{c.subject} {c.fingerprint[:16]}" for c in certs)


def _log_hint(label: str) -> str:
    namespace, _, pod = label.rpartition("/")
    return kubectl_hint("logs", pod, "-n", namespace, "-c", "istio-proxy",
                        names=(pod, namespace))


def expected_identity(pod: Obj | None, trust_domain: str) -> str:
    """The SPIFFE identity istiod signs for a pod: its namespace and service account."""
    if not pod:
        return ""
    namespace = str(meta(pod).get("namespace") or "")
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{account}" if namespace else ""


def published_roots(configmap: Obj | None) -> list[CertInfo] | None:
    """The roots in istiod's `istio-ca-root-cert` ConfigMap (None when unknown)."""
    data = (configmap or {}).get("data")
    pem = data.get("root-cert.pem") if isinstance(data, dict) else None
    if not isinstance(pem, str):
        return None
    try:
        return parse_pem_bundle(pem.encode("utf-8", "replace"))
    except ValueError:
        return None


def check_certificates(label: str, items: list[SecretItem], now: datetime, *,
                       pod: Obj | None = None, trust_domain: str = "cluster.local",
                       published: list[CertInfo] | None = None) -> list[Finding]:
    """Findings for one proxy's secrets (`label` is namespace/pod)."""
    where = f"envoy {label} secrets"
    findings: list[Finding] = []
    workload = _find(items, WORKLOAD_SECRET)
    root = _find(items, ROOT_SECRET)
    if workload is None or not workload.certs:
        state = (f"secret {WORKLOAD_SECRET} is {workload.state}"
                 + (f" ({one_line(workload.error)})" if workload.error else "")
                 if workload is not None else f"no secret {WORKLOAD_SECRET}")
        findings.append(CERT_MISSING(
            f"{label} holds no workload certificate ({state}): its sidecar cannot present "
            "an identity, so mTLS calls to and from it fail (503 UF, TLS handshake errors)",
            [Evidence(where, ", ".join(f"{i.name} {i.state}" for i in items) or "none")],
            fix=("pilot-agent gets the certificate from istiod's CA: look for CSR or SDS "
                 f"errors in `{_log_hint(label)}`, and check that istiod is up and reachable "
                 "on port 15012."),
            resource=f"Pod {label}", weight=9))
    for item in (i for i in (workload, root) if i is not None):
        for index, cert in enumerate(item.certs):
            if cert.valid_at(now):
                continue
            late = now > cert.not_after
            findings.append(CERT_EXPIRED(
                f"certificate {index} of secret {item.name} in {label} "
                + (f"expired at {rfc3339(cert.not_after)}" if late else
                   f"is valid only from {rfc3339(cert.not_before)}")
                + ": peers reject it in the TLS handshake (CERTIFICATE_VERIFY_FAILED, "
                "certificate expired)",
                [Evidence(where, f"{item.name}[{index}]: {_cert_words(cert)}")],
                fix=("pilot-agent renews the workload certificate at half its lifetime; an "
                     f"expired one means renewal failed: read `{_log_hint(label)}`, then "
                     "restart the pod. A certificate that is not valid yet means the clocks "
                     "of the node and istiod disagree.") if late or item is workload else
                "Check the clocks of the node and of istiod (NTP).",
                resource=f"Pod {label}", weight=9))
    leaf = workload.leaf if workload is not None else None
    if leaf is not None and leaf.valid_at(now):
        life = (leaf.not_after - leaf.not_before).total_seconds()
        left = (leaf.not_after - now).total_seconds()
        if life > 0 and left / life < RENEWAL_OVERDUE:
            findings.append(CERT_NOT_ROTATED(
                f"the workload certificate of {label} has {int(left // 60)} minutes of "
                f"{int(life // 3600)} hours left ({left / life:.0%}): pilot-agent renews at "
                "half-life, so renewal is failing and calls fail when it expires",
                [Evidence(where, f"{WORKLOAD_SECRET}: {_cert_words(leaf)}")],
                fix=f"Read `{_log_hint(label)}` for CSR errors; restarting the pod gets a "
                    "fresh certificate.", resource=f"Pod {label}"))
        want = expected_identity(pod, trust_domain)
        if want and want not in leaf.identities:
            named = ", ".join(leaf.identities) or "no SPIFFE identity"
            findings.append(CERT_IDENTITY_MISMATCH(
                f"the certificate of {label} names {named}, but the pod runs as {want}: "
                "clients that verify the server's "
                "identity (its SAN) reject it, and AuthorizationPolicies see another principal",
                [Evidence(where, f"{WORKLOAD_SECRET}: {_cert_words(leaf)}"),
                 Evidence(f"Pod {label}", f"expected identity {want}")],
                fix="Restart the pod after changing its service account or the mesh's "
                    "trustDomain; check meshConfig.trustDomain against the CA's.",
                resource=f"Pod {label}", weight=8))
    roots = root.certs if root is not None else []
    if workload is not None and workload.certs and roots:
        top = workload.certs[-1]
        anchored = any(top.fingerprint == r.fingerprint or top.issuer == r.subject
                       for r in roots)
        if not anchored:
            findings.append(ROOT_CA_MISMATCH(
                f"the workload certificate of {label} was issued by {top.issuer}, which is "
                "none of the roots its proxy trusts: proxies with those roots reject it "
                "(a CA change half rolled out?)",
                [Evidence(where, f"{WORKLOAD_SECRET} top: issuer {top.issuer}"),
                 Evidence(where, f"{ROOT_SECRET}: " + "; ".join(r.subject for r in roots[:3]))],
                fix="Restart the pod so that pilot-agent fetches both from the current CA.",
                resource=f"Pod {label}", weight=7))
    if published is not None and roots:
        have = {r.fingerprint for r in roots}
        missing = [r for r in published if r.fingerprint not in have]
        if missing:
            findings.append(ROOT_CA_MISMATCH(
                f"istiod publishes a root {label}'s proxy does not trust "
                f"({missing[0].subject}, serial {missing[0].serial_number}): after a CA "
                "change, peers with certificates from the new root are rejected",
                [Evidence(f"ConfigMap {ROOT_CONFIGMAP}", "root-cert.pem: "
                          + _roots_words(published)),
                 Evidence(where, f"{ROOT_SECRET}: "
                          + _roots_words(roots))],
                fix="Restart the pod (kubectl rollout restart) so its proxy loads the "
                    "current roots.", resource=f"Pod {label}", severity="warning"))
    return findings


def compare_roots(a_label: str, a_items: list[SecretItem], b_label: str,
                  b_items: list[SecretItem]) -> tuple[bool, list[Finding]]:
    """Whether two proxies share a root (istioctl proxy-config rootca-compare), and the
    finding when they do not."""
    a_root, b_root = _find(a_items, ROOT_SECRET), _find(b_items, ROOT_SECRET)
    a_certs = a_root.certs if a_root else []
    b_certs = b_root.certs if b_root else []
    shared = {c.fingerprint for c in a_certs} & {c.fingerprint for c in b_certs}
    if shared:
        return True, []
    return False, [ROOT_CA_MISMATCH(
        f"{a_label} and {b_label} trust no root in common: mTLS between them fails in the "
        "handshake (CERTIFICATE_VERIFY_FAILED, unknown ca)",
        [Evidence(f"envoy {a_label} secrets", f"{ROOT_SECRET}: " + (
            _roots_words(a_certs) or "none")),
         Evidence(f"envoy {b_label} secrets", f"{ROOT_SECRET}: " + (
             _roots_words(b_certs) or "none"))],
        fix="Restart the pods of the side with the old root after a CA change; across "
            "clusters, give both CAs a common root.", resource=f"Pod {a_label}", weight=7)]


def certificates_call(ctx: Any) -> list[Finding]:
    """why-503: the certificates of the call's two sides (a TLS failure may be an expired
    or foreign certificate), and whether they share a root."""
    from datetime import UTC

    now = datetime.now(UTC)
    trust_domain = ctx.mesh.mesh.trust_domain if ctx.mesh is not None else "cluster.local"
    findings: list[Finding] = []
    views = [v for v in [ctx.client, *ctx.servers] if v.reachable]
    held = {v.label: v.secrets() for v in views}
    for view in views:
        if not held[view.label]:
            continue  # an old Envoy or a proxy without SDS: nothing to judge
        findings += check_certificates(view.label, held[view.label], now, pod=view.pod,
                                       trust_domain=trust_domain)
    client = ctx.client.label
    for server in ctx.servers:
        if held.get(client) and held.get(server.label):
            findings += compare_roots(client, held[client], server.label,
                                      held[server.label])[1]
    return findings


def unloaded_credentials(label: str, items: list[SecretItem]) -> list[Finding]:
    """A gateway's `kubernetes://NAME` secrets (a Gateway's credentialName) that never
    became active: the Secret is missing where the gateway reads it, or holds no usable
    certificate, and the TLS server that names it serves nothing."""
    from kubectl_meshdebug.checks.gateways import GATEWAY_CREDENTIAL_NOT_FOUND

    findings = []
    for item in items:
        if not item.name.startswith("kubernetes://") or (item.state == "ACTIVE" and item.certs):
            continue
        name = item.name[len("kubernetes://"):]
        findings.append(GATEWAY_CREDENTIAL_NOT_FOUND(
            f"{label} has not loaded credential {one_line(name)!r} (SDS secret "
            f"{item.state}{', ' + one_line(item.error) if item.error else ''}): the Gateway "
            "server that names it has no certificate and its TLS handshakes fail",
            [Evidence(f"envoy {label} secrets", f"{one_line(item.name)}: {item.state}")],
            fix=("Create the TLS Secret in the gateway pod's namespace ("
                 + kubectl_hint("get", "secret", name, "-n", label.rpartition("/")[0],
                                names=(name, label.rpartition("/")[0]))
                 + " must find it), with tls.crt and tls.key."),
            resource=f"Pod {label}", weight=8))
    return findings
