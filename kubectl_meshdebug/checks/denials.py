"""Calls the mesh refuses on purpose: 403 from an AuthorizationPolicy, 401 from a
RequestAuthentication.

Envoy marks neither with a response flag; the server sidecar's access log carries the
detail its filter wrote (envoy.denials), and the server's inbound chain carries the RBAC
engines istiod built from the policies. The check joins the two to the policy objects:
which policy refused the call, which rule, and who the caller was.
"""

from __future__ import annotations

import json
from typing import Any

from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.why503_context import Why503Context, entry_text
from kubectl_meshdebug.envoy.accesslog import AccessLogEntry
from kubectl_meshdebug.envoy.denials import Denial, find_denial
from kubectl_meshdebug.envoy.proxyview import ProxyView
from kubectl_meshdebug.kube.state import as_dict, full_name, labels, meta
from kubectl_meshdebug.mesh import policy
from kubectl_meshdebug.mesh.commands import kubectl_hint
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

AUTHZ_DENIED = FindingType(
    "authz-denied", "error",
    "An AuthorizationPolicy denies the call (403 RBAC: access denied)",
    kinds=("AuthorizationPolicy", "Pod", "ConfigMap"), proxy=("listeners", "log"))

JWT_REJECTED = FindingType(
    "jwt-rejected", "error",
    "A RequestAuthentication rejects the call's token (401)",
    kinds=("RequestAuthentication", "Pod", "ConfigMap"), proxy=("log",))

_RULE_TEXT_LIMIT = 300  # characters of a policy rule shown as evidence



def _denied_lines(ctx: Why503Context, server: ProxyView, kind: str
                  ) -> list[tuple[AccessLogEntry, Denial]]:
    """The server's inbound access-log lines its own filters refused."""
    # a filter that refuses before routing may leave the upstream cluster empty; such a
    # line is never among server_entries, which need an inbound cluster
    unrouted = [e for e in server.log_entries if e.upstream_cluster in ("", "-")]
    out = []
    for entry in ctx.server_entries(server) + unrouted:
        denial = find_denial(f"{entry.details} {entry.termination}")
        if denial is not None and (denial.filter == "jwt") == (kind == "jwt"):
            out.append((entry, denial))
    return out


def _client_rejections(ctx: Why503Context, status: int) -> list[AccessLogEntry]:
    """The client's lines for this call that came back with `status` from the server."""
    return [e for e in ctx.call_entries if e.status == status]


def caller_identity(ctx: Why503Context) -> str:
    """The caller's SPIFFE principal as the server sees it over mTLS (trust domain from the
    mesh config), from the client pod's service account."""
    pod = ctx.client.pod or {}
    namespace = str(meta(pod).get("namespace") or "")
    if not namespace:
        return ""
    account = str(as_dict(pod.get("spec")).get("serviceAccountName") or "default")
    domain = ctx.mesh.mesh.trust_domain if ctx.mesh is not None else "cluster.local"
    return f"{domain}/ns/{namespace}/sa/{account}"


def _applying(ctx: Why503Context, kind: str, pod: Obj) -> list[Obj]:
    """The policies of `kind` that apply to a server pod."""
    if ctx.state is None:
        return []
    root = ctx.mesh.mesh.root_namespace if ctx.mesh is not None else "istio-system"
    return policy.workload_policies(ctx.state, root, str(meta(pod).get("namespace") or ""),
                                    labels(pod), kind)



def _rule_text(policy: Obj | None, index: int | None) -> str:
    rules = as_dict((policy or {}).get("spec")).get("rules")
    if index is None or not isinstance(rules, list) or not 0 <= index < len(rules):
        return ""
    text = json.dumps(rules[index], sort_keys=True, separators=(", ", ": "))
    return one_line(text[:_RULE_TEXT_LIMIT] + ("..." if len(text) > _RULE_TEXT_LIMIT else ""))


def _engines(ctx: Why503Context, server: ProxyView) -> list[str]:
    """The RBAC engines on the server's inbound chains for the target port, in words."""
    words = []
    for chain in ctx.inbound_chains(server):
        for engine in chain.chain.rbac:
            if engine.shadow:
                continue
            names = ", ".join(one_line(n) for n in engine.policies[:4]) or "(no policy)"
            more = f" and {len(engine.policies) - 4} more" if len(engine.policies) > 4 else ""
            words.append(f"{engine.layer} RBAC {engine.action}: {names}{more}")
    return sorted(set(words))


def authz_denied(ctx: Why503Context) -> list[Finding]:
    findings = []
    client_403 = _client_rejections(ctx, 403)
    for server in ctx.servers:
        denied = _denied_lines(ctx, server, "rbac")
        engines = _engines(ctx, server) if server.reachable else []
        if not denied and not (client_403 and engines):
            continue
        evidence = [Evidence(f"envoy {ctx.client.label} access log", entry_text(e))
                    for e in client_403[-1:]]
        evidence += [Evidence(f"envoy {server.label} access log", entry_text(e))
                     for e, _ in denied[-2:]]
        evidence += [Evidence(f"envoy {server.label} listeners", w) for w in engines[:3]]
        caller = caller_identity(ctx)
        pod = server.pod or {}
        denial = denied[-1][1] if denied else None
        if denial is not None and denial.name:
            found = ctx.state.get("AuthorizationPolicy", denial.namespace, denial.name) \
                if ctx.state is not None else None
            rule = _rule_text(found, denial.rule)
            if rule:
                evidence.append(Evidence(f"AuthorizationPolicy {denial.policy_ref}",
                                         f"rules[{denial.rule}]: {rule}"))
            summary = (f"the sidecar of {server.label} refuses the call with 403: "
                       + denial.words())
            show = kubectl_hint("get", "authorizationpolicy", denial.name, "-n",
                                denial.namespace, "-o", "yaml",
                                names=(denial.name, denial.namespace))
            fix = (f"Narrow rule {denial.rule} of AuthorizationPolicy {denial.policy_ref} so "
                   f"that it does not match this caller ({one_line(caller) or 'the client'}), "
                   f"or remove it; `{show}` shows it.")
            resource = f"AuthorizationPolicy {denial.policy_ref}"
        else:
            allow = [p for p in _applying(ctx, "AuthorizationPolicy", pod)
                     if str(as_dict(p.get("spec")).get("action") or "ALLOW") == "ALLOW"]
            names = ", ".join(full_name(p) for p in allow[:4]) or "(not readable)"
            evidence += [Evidence(f"AuthorizationPolicy {full_name(p)}",
                                  f"ALLOW, {len(as_dict(p.get('spec')).get('rules') or [])} "
                                  "rule(s)") for p in allow[:3]]
            if denial is not None:
                summary = (f"the sidecar of {server.label} refuses the call with 403: "
                           + denial.words() + f" (ALLOW policies: {names})")
            else:
                summary = (f"{ctx.client.label} gets 403 from {server.label}, whose sidecar "
                           f"enforces ALLOW policies ({names}); its access log would name "
                           "the policy (rbac_access_denied_matched_policy)")
            target = allow[0] if allow else None
            principal = json.dumps(caller or "cluster.local/ns/NAMESPACE/sa/ACCOUNT")
            fix = ("Allow the caller in an ALLOW policy of the server"
                   + (f" (AuthorizationPolicy {full_name(target)})" if target else "")
                   + f":\n  rules:\n  - from:\n    - source:\n        principals: [{principal}]"
                   "\n(the caller must reach the server over mTLS for its principal to "
                   "count).")
            resource = f"AuthorizationPolicy {full_name(target)}" if target else \
                f"Pod {server.label}"
        findings.append(AUTHZ_DENIED(
            summary + (f"; the caller is {caller}" if caller else ""), evidence, fix=fix,
            resource=resource, severity="error" if denied else "warning", weight=8))
    return findings


def jwt_rejected(ctx: Why503Context) -> list[Finding]:
    findings = []
    for server in ctx.servers:
        denied = _denied_lines(ctx, server, "jwt")
        if not denied:
            continue
        evidence = [Evidence(f"envoy {ctx.client.label} access log", entry_text(e))
                    for e in _client_rejections(ctx, 401)[-1:]]
        evidence += [Evidence(f"envoy {server.label} access log", entry_text(e))
                     for e, _ in denied[-2:]]
        issuers = []
        applying = _applying(ctx, "RequestAuthentication", server.pod or {})
        for ra in applying[:4]:
            for rule in as_dict(ra.get("spec")).get("jwtRules") or []:
                issuer = one_line(str(as_dict(rule).get("issuer") or "(any)"))
                issuers.append(issuer)
                where = as_dict(rule).get("jwksUri") or ("inline jwks" if as_dict(rule).get("jwks")
                                                       else "the issuer's discovery document")
                evidence.append(Evidence(f"RequestAuthentication {full_name(ra)}",
                                         f"issuer {issuer}, keys from {one_line(str(where))}"))
        findings.append(JWT_REJECTED(
            f"the sidecar of {server.label} refuses the call with 401: {denied[-1][1].words()}",
            evidence,
            fix=("Send a token from an accepted issuer (" + (", ".join(issuers[:4]) or
                 "none readable") + ") that has not expired and is signed by the issuer's "
                 "current keys; a request without a token passes RequestAuthentication and "
                 "is judged by the AuthorizationPolicies."),
            resource=f"RequestAuthentication {full_name(applying[0])}" if applying
            else f"Pod {server.label}", weight=8))
    return findings
