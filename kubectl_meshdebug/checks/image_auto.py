"""Gateways deployed with `image: auto` that the injector will not fill in (istioctl's
injection.ImageAutoAnalyzer).

Istio's gateway charts give the istio-proxy container `image: auto` and rely on the
injection webhook to replace it. A Pod that still says `auto` was not injected and cannot
start (ImagePullBackOff); a Deployment whose pods no Istio webhook selects will create
such pods.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import as_dict, full_name, label_selector_matches, labels, meta, ref

Obj = dict[str, Any]

IMAGE_AUTO_NOT_INJECTED = FindingType(
    "image-auto-not-injected", "error",
    "A pod's istio-proxy still has `image: auto`: it was not injected (IST0147)",
    kinds=("Pod",))

IMAGE_AUTO_NO_WEBHOOK = FindingType(
    "image-auto-no-webhook", "warning",
    "A Deployment uses `image: auto` but no Istio webhook injects its pods (IST0146)",
    kinds=("Deployment", "Namespace", "MutatingWebhookConfiguration"))



def has_auto_image(spec: Obj) -> bool:
    return any(as_dict(c).get("name") == "istio-proxy" and as_dict(c).get("image") == "auto"
               for c in spec.get("containers") or [])


def image_auto(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    for pod in ctx.list("Pod"):
        if ctx.in_scope(pod) and has_auto_image(as_dict(pod.get("spec"))):
            findings.append(IMAGE_AUTO_NOT_INJECTED(
                f"pod {full_name(pod)} has an istio-proxy "
                "container with image: auto, so the injector did not run for it: the image "
                "cannot be pulled",
                [Evidence(ref(pod), "container istio-proxy: image: auto")],
                fix="Enable injection for the pod (namespace label istio-injection=enabled or "
                    "istio.io/rev, or the pod label sidecar.istio.io/inject=true) and recreate "
                    "it; check-inject POD says why it was skipped.",
                resource=ref(pod)))
    webhooks = [as_dict(w) for config in ctx.list("MutatingWebhookConfiguration")
                for w in as_dict(config).get("webhooks") or []
                if str(as_dict(w).get("name", "")).endswith("istio.io")]
    namespaces = {str(meta(n).get("name")): labels(n) for n in ctx.list("Namespace")}
    for deployment in ctx.list("Deployment"):
        template = as_dict(as_dict(deployment.get("spec")).get("template"))
        if not ctx.in_scope(deployment) or not has_auto_image(as_dict(template.get("spec"))):
            continue
        ns_labels = namespaces.get(str(meta(deployment).get("namespace") or "default"), {})
        if any(label_selector_matches(w.get("namespaceSelector"), ns_labels)
               and label_selector_matches(w.get("objectSelector"), labels(template))
               for w in webhooks):
            continue
        findings.append(IMAGE_AUTO_NO_WEBHOOK(
            f"Deployment {full_name(deployment)} "
            "has istio-proxy image: auto, and no Istio injection webhook selects its pods: "
            "they will not start",
            [Evidence(ref(deployment), "template container istio-proxy: image: auto")],
            fix="Label the namespace for injection (istio-injection=enabled or istio.io/rev) "
                "or the pod template (sidecar.istio.io/inject: \"true\").",
            resource=ref(deployment)))
    return findings
