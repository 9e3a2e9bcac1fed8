"""What exists in the cluster (or the files), as the Kiali-style checks need to know it:
namespaces, service accounts, and the workloads a selector can reach.

Offline (`-f`) the files rarely hold Namespace or ServiceAccount objects, so existence is
inferred the way the API server guarantees it: an object in a namespace means the
namespace exists, and a pod (or a workload's template) naming a service account, or any
namespace's `default` account, means the account exists. A check that would otherwise
flag every reference in a set of files uses `known_kind` to stay quiet.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.kube import selectors
from kubectl_meshdebug.kube.state import as_dict, meta

Obj = dict[str, Any]

_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
# What known_namespaces and service_accounts read: checks that use them declare these.
_NAMESPACED_EVIDENCE = ("Pod", "Service", "DestinationRule", "VirtualService", "ServiceEntry",
                        "Sidecar", "Gateway", "PeerAuthentication", "AuthorizationPolicy")
NAMESPACE_KINDS = ("Namespace", *_NAMESPACED_EVIDENCE)
ACCOUNT_KINDS = ("ServiceAccount", *NAMESPACE_KINDS, *_TEMPLATE_KINDS)



def complete(ctx: AuditContext, kind: str) -> bool:
    """Whether every object of this kind was read: always from files, and from a cluster
    only when RBAC let the tool list it cluster-wide. A check that reports something as
    missing must stay quiet otherwise, or a namespace Role turns into false findings."""
    ctx.list(kind)  # the read that records what RBAC refused
    state = ctx.state
    if not state.live:
        return True
    return kind not in state.narrowed() and not any(k == kind for k, _ in state.unreadable)


def known_namespaces(ctx: AuditContext) -> set[str]:
    """Namespaces that exist: Namespace objects and the namespaces objects live in."""
    found = {str(meta(n).get("name")) for n in ctx.list("Namespace") if meta(n).get("name")}
    if not ctx.state.live:
        for kind in _NAMESPACED_EVIDENCE:
            found.update(str(meta(o).get("namespace")) for o in ctx.list(kind)
                         if meta(o).get("namespace"))
    return found


def known_kind(ctx: AuditContext, kind: str) -> bool:
    """Whether a missing object of KIND can be told from one the tool did not see: against
    a cluster when every one could be listed, with -f only when the files hold some (a
    set of manifests rarely carries its ServiceAccounts or Secrets)."""
    if ctx.state.live:
        return complete(ctx, kind)
    return bool(ctx.list(kind))


def accounts_known(ctx: AuditContext) -> bool:
    """Whether ServiceAccounts can be judged (known_kind)."""
    return known_kind(ctx, "ServiceAccount")


def service_accounts(ctx: AuditContext) -> set[tuple[str, str]]:
    """(namespace, name) of every service account known to exist."""
    found = {(str(meta(sa).get("namespace")), str(meta(sa).get("name")))
             for sa in ctx.list("ServiceAccount")}
    found.update((ns, "default") for ns in known_namespaces(ctx))
    for pod in ctx.list("Pod"):
        spec = as_dict(pod.get("spec"))
        found.add((str(meta(pod).get("namespace")),
                   str(spec.get("serviceAccountName") or "default")))
    for kind in _TEMPLATE_KINDS:
        for workload in ctx.list(kind):
            template = as_dict(as_dict(workload.get("spec")).get("template"))
            account = as_dict(template.get("spec")).get("serviceAccountName")
            if account:
                found.add((str(meta(workload).get("namespace")), str(account)))
    return found


def match_labels(obj: Obj, field: str = "selector", key: str = "matchLabels") -> dict[str, str] | None:
    """The selector's labels; None when the object has no selector at all (an empty
    selector is `{}`: it selects every workload)."""
    spec = as_dict(obj.get("spec"))
    if field not in spec or spec.get(field) is None:
        return None
    found = as_dict(spec.get(field)).get(key)
    return {str(k): str(v) for k, v in as_dict(found).items()}


def selector_text(selector: dict[str, str]) -> str:
    """The selector as istioctl prints it, "(empty)" for one that selects everything."""
    return selectors.selector_text(selector) or "(empty)"
