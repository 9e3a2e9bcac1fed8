"""AuthorizationPolicy rules that can never match as written (Kiali's authorization checkers).

A rule matches a request only if every field in it matches. A method that is no HTTP
method, a `to.operation.hosts` entry naming a Service that does not exist, a principal
whose service account does not exist, or a principal or namespace condition on a workload
that receives plaintext (the server learns the caller's identity only from its mTLS
certificate) each make the rule dead: an ALLOW policy then denies what it meant to allow,
a DENY policy lets through what it meant to stop.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.checks.inventory import (
    ACCOUNT_KINDS,
    NAMESPACE_KINDS,
    accounts_known,
    complete,
    known_namespaces,
    match_labels,
    service_accounts,
)
from kubectl_meshdebug.kube.state import as_dict, as_list, labels, meta, ref
from kubectl_meshdebug.mesh import policy as mesh_policy
from kubectl_meshdebug.mesh.hosts import resolve_host
from kubectl_meshdebug.mesh.registry import lookup
from kubectl_meshdebug.text import one_line

Obj = dict[str, Any]

AUTHZ_METHOD_INVALID = FindingType(
    "authz-method-invalid", "error",
    "An AuthorizationPolicy rule names a method that is no HTTP method (KIA0102)",
    kinds=("AuthorizationPolicy",))

AUTHZ_HOST_NOT_FOUND = FindingType(
    "authz-host-not-found", "error",
    "An AuthorizationPolicy rule names a host that is no Service or ServiceEntry (KIA0104)",
    kinds=("ConfigMap", *NAMESPACE_KINDS))

AUTHZ_PRINCIPAL_NOT_FOUND = FindingType(
    "authz-principal-not-found", "error",
    "An AuthorizationPolicy principal names a service account that does not exist (KIA0106)",
    kinds=("ConfigMap", *ACCOUNT_KINDS))

AUTHZ_REQUIRES_MTLS = FindingType(
    "authz-requires-mtls", "error",
    "An AuthorizationPolicy matches on caller identity for a workload that receives "
    "plaintext (KIA0105)",
    kinds=("AuthorizationPolicy", "PeerAuthentication", "DestinationRule", "Service", "Pod",
           "Node", "ConfigMap"))

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE")
# request attributes the server learns only from the caller's mTLS certificate
IDENTITY_SOURCES = ("principals", "notPrincipals", "namespaces", "notNamespaces")
IDENTITY_CONDITIONS = ("source.principal", "source.namespace", "connection.sni")
_PRINCIPAL = re.compile(r"^(?P<domain>[^/]+)/ns/(?P<ns>[^/]+)/sa/(?P<sa>[^/]+)$")




def _rules(policy: Obj) -> Iterator[tuple[int, Obj]]:
    for i, rule in enumerate(as_list(as_dict(policy.get("spec")).get("rules"))):
        if isinstance(rule, dict):
            yield i, rule


def method_valid(method: str) -> bool:
    """Kiali's validMethod: an HTTP method, `*`, or one with a `*` prefix or suffix that
    matches some method."""
    method = method.strip()
    if not method:
        return False
    if method == "*":
        return True
    if method.endswith("*") and not method.startswith("*"):
        stem = method[:-1].upper()
        return any(m.startswith(stem) for m in HTTP_METHODS)
    if method.startswith("*") and not method.endswith("*"):
        stem = method[1:].upper()
        return any(m.endswith(stem) for m in HTTP_METHODS)
    return method.upper() in HTTP_METHODS


def authz_methods(ctx: AuditContext) -> list[Finding]:
    findings = []
    for policy in ctx.list("AuthorizationPolicy"):
        if not ctx.in_scope(policy):
            continue
        for i, rule in _rules(policy):
            for j, to in enumerate(as_list(rule.get("to"))):
                operation = as_dict(as_dict(to).get("operation"))
                for method in as_list(operation.get("methods")):
                    if method_valid(str(method)):
                        continue
                    findings.append(AUTHZ_METHOD_INVALID(
                        f"{ref(policy)} rule {i} matches method {one_line(str(method))!r}, "
                        "which no request has: the rule never matches (gRPC calls are "
                        "POST; a gRPC method name belongs in paths)",
                        [Evidence(ref(policy), f"rules[{i}].to[{j}].operation.methods: "
                                               f"{one_line(str(method))}")],
                        fix="Use an HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, "
                            "OPTIONS, TRACE), `*`, or one with a `*` prefix or suffix.",
                        resource=ref(policy)))
    return findings


def _host_is_header_pattern(host: str, namespace: str, namespaces: set[str]) -> bool:
    """Kiali's isHTTPHostHeaderMatcher: `operation.hosts` matches the Host header, so a
    wildcard or an external DNS name is no registry name to check; `svc.NAMESPACE` is."""
    host = host.strip()
    if not host:
        return False
    if host == "*" or host.startswith("*") or host.endswith("*"):
        return True
    dots = host.count(".")
    if dots >= 2:
        return True
    if dots == 1:
        suffix = host.split(".", 1)[1]
        return suffix != namespace and suffix not in namespaces
    return False


def authz_hosts(ctx: AuditContext) -> list[Finding]:
    if not all(complete(ctx, kind) for kind in ("Namespace", "Service", "ServiceEntry",
                                                "VirtualService")):
        return []  # a host in a namespace we could not read is not a missing host
    namespaces = known_namespaces(ctx)
    vs_hosts = {resolve_host(str(h), str(meta(vs).get("namespace") or ""))
                for vs in ctx.list("VirtualService")
                for h in as_list(as_dict(vs.get("spec")).get("hosts"))}
    findings = []
    for policy in ctx.list("AuthorizationPolicy"):
        if not ctx.in_scope(policy):
            continue
        namespace = str(meta(policy).get("namespace") or "")
        for i, rule in _rules(policy):
            for j, to in enumerate(as_list(rule.get("to"))):
                operation = as_dict(as_dict(to).get("operation"))
                for host in as_list(operation.get("hosts")):
                    host = str(host)
                    if _host_is_header_pattern(host, namespace, namespaces):
                        continue
                    name = host.split(":", 1)[0]
                    # the Host header a caller sends: NAME, or NAME.NAMESPACE (DNS search)
                    fqdn = f"{name}.svc.cluster.local" if name.count(".") == 1 \
                        else resolve_host(name, namespace)
                    if lookup(ctx.registry, fqdn, namespace) or fqdn in vs_hosts:
                        continue
                    allow_any = ctx.mesh.outbound_policy != "REGISTRY_ONLY"
                    findings.append(AUTHZ_HOST_NOT_FOUND(
                        f"{ref(policy)} rule {i} matches host {one_line(host)!r}, which is no "
                        f"Service, ServiceEntry or VirtualService host visible from {namespace}"
                        ": requests carry no such Host header, so the rule never matches",
                        [Evidence(ref(policy), f"rules[{i}].to[{j}].operation.hosts: "
                                               f"{one_line(host)}")],
                        fix="Name the host the callers use (the Service's name, "
                            "NAME.NAMESPACE, or its FQDN), or a `*` pattern for Host headers.",
                        resource=ref(policy),
                        severity="warning" if allow_any else "error"))
    return findings


def principal_matches(pattern: str, principal: str) -> bool:
    """Istio's string match for principals: exact, `prefix*`, `*suffix` or `*`."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return principal.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return principal.endswith(pattern[1:])
    return pattern == principal


def authz_principals(ctx: AuditContext) -> list[Finding]:
    if not accounts_known(ctx):
        return []
    domain = ctx.mesh.trust_domain
    accounts = sorted(f"{domain}/ns/{ns}/sa/{sa}" for ns, sa in service_accounts(ctx))
    findings = []
    for policy in ctx.list("AuthorizationPolicy"):
        if not ctx.in_scope(policy):
            continue
        for i, rule in _rules(policy):
            for j, source in enumerate(as_list(rule.get("from"))):
                for principal in as_list(as_dict(as_dict(source).get("source")).get("principals")):
                    principal = str(principal)
                    if any(principal_matches(principal, a) for a in accounts):
                        continue
                    parsed = _PRINCIPAL.match(principal)
                    if parsed and parsed["domain"] != domain and "*" not in principal:
                        continue  # another trust domain: nothing here to check it against
                    findings.append(AUTHZ_PRINCIPAL_NOT_FOUND(
                        f"{ref(policy)} rule {i} matches principal {one_line(principal)!r}, "
                        "and no service account in the cluster has that identity: no caller "
                        "can match it",
                        [Evidence(ref(policy), f"rules[{i}].from[{j}].source.principals: "
                                               f"{one_line(principal)}")],
                        fix=(f"Write principals as {domain}/ns/NAMESPACE/sa/SERVICEACCOUNT of a "
                             "service account the callers run as (kubectl get pod POD -o "
                             "jsonpath='{.spec.serviceAccountName}')."),
                        resource=ref(policy)))
    return findings


def _identity_paths(policy: Obj) -> list[str]:
    """Where the policy matches on what only mTLS tells the server (Kiali's needsMtls)."""
    paths = []
    for i, rule in _rules(policy):
        for j, source in enumerate(as_list(rule.get("from"))):
            src = as_dict(as_dict(source).get("source"))
            paths += [f"rules[{i}].from[{j}].source.{f}" for f in IDENTITY_SOURCES if src.get(f)]
        for j, condition in enumerate(as_list(rule.get("when"))):
            key = as_dict(condition).get("key")
            if key in IDENTITY_CONDITIONS:
                paths.append(f"rules[{i}].when[{j}] ({key})")
    return paths


def _receives_plaintext(ctx: AuditContext, namespace: str,
                        workload: dict[str, str] | None) -> tuple[bool, str]:
    """Whether calls reach a workload (or, for None, the namespace's workloads) without
    mTLS, and why: its PeerAuthentication disables mTLS, or the callers' DestinationRule
    (or no rule with auto mTLS off) makes them send plaintext."""
    # no labels: only the namespace and mesh levels apply
    server = mesh_policy.merged_peer_authentication(ctx.state, ctx.mesh, namespace,
                                                    workload or {})
    if server.mode == "DISABLE":
        return True, f"{server.mode_source} sets mtls.mode DISABLE"
    hosts = [f"{meta(s).get('name')}.{namespace}.svc.cluster.local" for s in ctx.list("Service")
             if meta(s).get("namespace") == namespace and workload is not None
             and (sel := as_dict(as_dict(s.get("spec")).get("selector")))
             and all(workload.get(k) == v for k, v in sel.items())]
    for host in hosts or [f"\0any.{namespace}.svc.cluster.local"]:
        dr = mesh_policy.find_destination_rule(ctx.state, ctx.mesh, host, namespace, None,
                                               namespace)
        expected = mesh_policy.expected_client_tls(dr, ctx.mesh, None)
        if expected.mode == "none":
            return True, expected.reason
    return False, ""


def authz_requires_mtls(ctx: AuditContext) -> list[Finding]:
    findings = []
    for policy in ctx.list("AuthorizationPolicy"):
        if not ctx.in_scope(policy):
            continue
        paths = _identity_paths(policy)
        if not paths:
            continue
        namespace = str(meta(policy).get("namespace") or "")
        if namespace == ctx.mesh.root_namespace:
            continue  # mesh-wide: judged per namespace, not here
        selector = match_labels(policy)
        if selector:
            pods = [labels(p) for p in ctx.pods_selected(namespace, selector)]
            targets: list[dict[str, str] | None] = list(pods) or [selector]
        else:
            targets = [None]
        for target in targets:
            plaintext, why = _receives_plaintext(ctx, namespace, target)
            if not plaintext:
                continue
            findings.append(AUTHZ_REQUIRES_MTLS(
                f"{ref(policy)} matches on the caller's identity ({paths[0]}), but calls to "
                f"the workloads it applies to arrive without mTLS ({why}): the server sees no "
                "principal or namespace, so the rule never matches",
                [Evidence(ref(policy), ", ".join(paths[:3])), Evidence(ref(policy), why)],
                fix="Let the calls use mTLS (PeerAuthentication PERMISSIVE or STRICT, and "
                    "ISTIO_MUTUAL or auto mTLS on the client side), or match on something "
                    "plaintext carries (ipBlocks, paths, headers).",
                resource=ref(policy)))
            break
    return findings
