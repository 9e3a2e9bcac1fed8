"""Whether a pod (or a pod template) is in the mesh as istioctl's analyzers decide it
(analyzers/util.inMesh): an istio-proxy container with an image, else the pod's own
`sidecar.istio.io/inject` label, then annotation, else its namespace's istio-injection
label. Several analyzers judge only meshed workloads, and must agree on which those are."""

from __future__ import annotations

from typing import Any

from kubectl_meshdebug.kube.state import as_dict, labels, meta

Obj = dict[str, Any]

INJECT = "sidecar.istio.io/inject"



def template_in_mesh(template: Obj, namespace: Obj | None) -> bool:
    """A Pod, or a workload's spec.template, with its Namespace object (None if unknown)."""
    spec = as_dict(template.get("spec"))
    containers = [c for key in ("containers", "initContainers")
                  for c in spec.get(key) or [] if isinstance(c, dict)]
    if any(c.get("name") == "istio-proxy" and c.get("image") for c in containers):
        return True
    for where in (labels(template), as_dict(meta(template).get("annotations"))):
        if INJECT in where:
            return str(where[INJECT]) == "true"
    return namespace is not None and labels(namespace).get("istio-injection") == "enabled"


def in_ambient(pod: Obj) -> bool:
    """Redirected to ztunnel (annotation ambient.istio.io/redirection: enabled)."""
    return as_dict(meta(pod).get("annotations")).get("ambient.istio.io/redirection") == "enabled"
