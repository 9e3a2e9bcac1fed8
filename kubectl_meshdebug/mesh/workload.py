"""The workload a pod belongs to, named as Istio names it in `source_workload`.

Istio's GetWorkloadMetaFromPod (pkg/kube/util.go): the `service.istio.io/workload-name`
label when set; else, for a pod whose name was generated, its controller: a ReplicaSet
whose name ends in the pod-template-hash is its Deployment, a Job named
`NAME-<8 to 10 digits>` is its CronJob; otherwise the pod's own name.
"""

from __future__ import annotations

import re
from typing import Any

from kubectl_meshdebug.kube.state import labels, meta

WORKLOAD_NAME_LABEL = "service.istio.io/workload-name"
_CRONJOB_JOB = re.compile(r"(.+)-\d{8,10}$")


def workload_name(pod: dict[str, Any]) -> str:
    m = meta(pod)
    pod_labels = labels(pod)
    if isinstance(pod_labels.get(WORKLOAD_NAME_LABEL), str):
        return pod_labels[WORKLOAD_NAME_LABEL]
    name = str(m.get("name", ""))
    owners = m.get("ownerReferences")
    if not m.get("generateName") or not isinstance(owners, list):
        return name
    owner = next((o for o in owners if isinstance(o, dict) and o.get("controller") is True),
                 None)
    if owner is None or not isinstance(owner.get("name"), str):
        return name
    kind, owner_name = owner.get("kind"), owner["name"]
    template_hash = pod_labels.get("pod-template-hash", "")
    if kind == "ReplicaSet" and template_hash and owner_name.endswith("-" + template_hash):
        return owner_name[: -len(template_hash) - 1]
    if kind == "Job":
        match = _CRONJOB_JOB.fullmatch(owner_name)
        if match:
            return match.group(1)
    return owner_name
