"""Istio annotations that are unknown, on the wrong kind of object, deprecated, or carry a
value the injector rejects (istioctl's annotations.K8sAnalyzer).

The API server accepts any annotation, so a typo (`sidecar.istio.io/inejct`), an
annotation on the Deployment instead of its pod template, or `proxyCPU: lots` is silently
ignored, and the pod runs without what the annotation was meant to do.
"""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import labels, meta, ref
from kubectl_meshdebug.mesh.annotation_values import invalid
from kubectl_meshdebug.mesh.istio_annotations import ANNOTATIONS

Obj = dict[str, Any]

ANNOTATION_UNKNOWN = FindingType(
    "annotation-unknown", "warning", "An Istio annotation Istio does not know (IST0108)",
    kinds=("Namespace", "Service", "Pod", "Deployment"))

ANNOTATION_MISPLACED = FindingType(
    "annotation-misplaced", "warning",
    "An Istio annotation on a kind of object it does not apply to (IST0107)",
    kinds=("Namespace", "Service", "Pod", "Deployment"))

ANNOTATION_INVALID = FindingType(
    "annotation-invalid", "warning",
    "An Istio annotation with a value the injector rejects (IST0125)",
    kinds=("Namespace", "Service", "Pod", "Deployment"))

ANNOTATION_DEPRECATED = FindingType(
    "annotation-deprecated", "info", "A deprecated Istio annotation (IST0135)",
    kinds=("Namespace", "Service", "Pod", "Deployment"))

KINDS = ("Namespace", "Service", "Pod", "Deployment")
# set by Istio itself, never a user's mistake (maturity.AlwaysIgnoredAnnotations)
IGNORED = {"sidecar.istio.io/status", "gateway.istio.io/controller-version", "istio.io/rev"}
INJECT = "sidecar.istio.io/inject"


def is_istio_annotation(name: str) -> bool:
    return name == "kubernetes.io/ingress.class" or name.split("/")[0].endswith("istio.io")


def _pod_template_hint(kind: str, name: str) -> str:
    if kind == "Deployment" and "Pod" in ANNOTATIONS.get(name, ("", False, ()))[2]:
        return " (it belongs on spec.template.metadata, where the pods get it)"
    return ""


def annotations(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    for kind in KINDS:
        for obj in ctx.list(kind):
            if kind != "Namespace" and not ctx.in_scope(obj):
                continue
            found = meta(obj).get("annotations")
            if not isinstance(found, dict):
                continue
            where = f"{kind} {meta(obj).get('namespace') + '/' if meta(obj).get('namespace') else ''}" \
                    f"{meta(obj).get('name')}"
            for name, value in sorted(found.items(), key=lambda kv: str(kv[0])):
                name = str(name)
                if not is_istio_annotation(name) or name in IGNORED:
                    continue
                evidence = [Evidence(ref(obj), f"annotation {name}: {value}")]
                known = ANNOTATIONS.get(name)
                if known is None:
                    findings.append(ANNOTATION_UNKNOWN(
                        f"{where} has annotation {name}, which Istio does not know: it does "
                        "nothing", evidence,
                        fix="Check the name against https://istio.io/latest/docs/reference/"
                            "config/annotations/ (a typo is the usual cause).",
                        resource=ref(obj)))
                    continue
                _, deprecated, kinds = known
                if deprecated and not (name == INJECT and INJECT in labels(obj)):
                    findings.append(ANNOTATION_DEPRECATED(
                        f"{where} has deprecated annotation {name}"
                        + (", replaced by the sidecar.istio.io/inject label" if name == INJECT
                           else ""), evidence,
                        fix="Use the label sidecar.istio.io/inject on the pod template instead."
                            if name == INJECT else "Drop it, or use what replaces it.",
                        resource=ref(obj)))
                if "Any" in kinds:
                    continue
                if kind not in kinds:
                    findings.append(ANNOTATION_MISPLACED(
                        f"{where} has annotation {name}, which only applies to "
                        f"{', '.join(kinds)}: here it does nothing"
                        + _pod_template_hint(kind, name), evidence,
                        fix=f"Move it to the {' or '.join(kinds)} it is meant for.",
                        resource=ref(obj)))
                    continue
                why = invalid(name, str(value))
                if why:
                    findings.append(ANNOTATION_INVALID(
                        f"{where} has annotation {name} with a value the injector rejects: "
                        f"{why}", evidence,
                        fix="Fix the value (see the annotation's reference page).",
                        resource=ref(obj)))
    return findings
