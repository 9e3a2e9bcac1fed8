"""`collect`: every object the offline checks read, from the API server, as one YAML (or
JSON) List that `-f` takes back: the offline recipe in one command, nothing left out (the
mesh config, ServiceEntries, Gateways, Namespaces, webhooks) and nothing more.

Read-only. What a cluster holds that the checks never read stays out, and so does what
could carry a credential: no Secrets, only the mesh ConfigMaps (`istio`, `istio-REV`) of
the control plane's namespace, container env values replaced, managedFields and
last-applied annotations dropped.
"""

from __future__ import annotations

import copy
from typing import Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import all_namespaces_option, global_options
from kubectl_meshdebug.errors import EXIT_OK, UsageError

# The kinds the checks read, in the order a reader wants them.
COLLECTED = ["Namespace", "Node", "ConfigMap", "MutatingWebhookConfiguration", "Service",
             "EndpointSlice", "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet",
             "Event", "DestinationRule", "VirtualService", "ServiceEntry", "Sidecar",
             "Gateway", "PeerAuthentication"]
CLUSTER_SCOPED = {"Namespace", "Node", "MutatingWebhookConfiguration"}
ROOT_ONLY = {"ConfigMap"}  # read in the control plane's namespace only
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REDACTED = "(redacted by kubectl-meshdebug collect)"


@click.command("collect", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug collect -A > objects.yaml
  kubectl meshdebug audit -A -f objects.yaml            # offline, anywhere
  kubectl meshdebug collect -n foo -o json > foo.json
""")
@all_namespaces_option
@global_options(outputs=("table", "yaml", "json"))
@click.pass_context
def collect(ctx: click.Context) -> int:
    """Print every object audit, describe, check-inject and why-503 read (Namespaces,
    Services, Pods, EndpointSlices, workloads, DestinationRules, VirtualServices,
    ServiceEntries, Sidecars, Gateways, PeerAuthentications, injector webhooks, and the
    mesh config) as one YAML List for -f. Secrets are never read; env values are
    replaced. What RBAC refuses is left out, said on stderr."""
    from kubectl_meshdebug.cli.runtime import ROOT_KINDS

    rt = runtime(ctx)
    if rt.offline:
        raise UsageError("collect reads the API server; with -f the objects are the files")
    state = rt.state()
    istio_ns = rt.istio_namespace
    scope = None if rt.settings.all_namespaces else rt.namespace
    items: list[dict[str, Any]] = []
    for kind in COLLECTED:
        if kind in CLUSTER_SCOPED:
            found = state.list(kind, None)
        elif kind in ROOT_ONLY:
            found = [o for o in state.list(kind, istio_ns) if _mesh_config(o, istio_ns)]
        else:
            found = list(state.list(kind, scope))
            # mesh-wide rules live in the control plane's namespace: kept with a
            # namespace's objects, as every command reads them (Runtime's ROOT_KINDS)
            if scope is not None and scope != istio_ns and kind in ROOT_KINDS:
                found += state.list(kind, istio_ns)
        if kind == "Event":
            found = [e for e in found if e.get("reason") in ("FailedCreate",
                                                             "FailedCreatePodSandBox")]
        items += sorted((_scrubbed(kind, o) for o in found), key=_order)
    if rt.printer.err.isatty():
        rt.printer.note(f"collect: {len(items)} objects")
    output = "yaml" if rt.settings.output == "table" else rt.settings.output
    rt.printer.output = output
    rt.printer.document({"apiVersion": "v1", "kind": "List", "items": items})
    rt.note_limits()
    return EXIT_OK



def _mesh_config(obj: dict[str, Any], istio_ns: str) -> bool:
    """The ConfigMaps the checks read: the mesh config (`istio`, `istio-REV`: a `mesh`
    key) and the injector's (`istio-sidecar-injector[-REV]`); not istiod's leases, CRLs
    or anything else of that namespace."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    if meta.get("namespace") != istio_ns:
        return False
    return name.startswith("istio-sidecar-injector") or (
        (name == "istio" or name.startswith("istio-")) and isinstance(data.get("mesh"), str))


def _order(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _scrubbed(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the checks need it, with what could carry a credential taken out."""
    from kubectl_meshdebug.kube.kinds import KINDS

    out = copy.deepcopy(obj)
    spec = KINDS[kind]
    out.setdefault("apiVersion", f"{spec.group}/{spec.versions[0]}" if spec.group
                   else spec.versions[0])
    out.setdefault("kind", kind)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)
    for pod_spec in _pod_specs(out):
        for key in ("containers", "initContainers", "ephemeralContainers"):
            for container in pod_spec.get(key) or []:
                if not isinstance(container, dict):
                    continue
                for env in container.get("env") or []:
                    if isinstance(env, dict) and "value" in env:
                        env["value"] = REDACTED
                if container.get("args"):
                    container["args"] = [REDACTED if _looks_secret(a) else a
                                         for a in container["args"]]
    return out


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        return [template["spec"]]
    return [spec] if obj.get("kind") == "Pod" else []


def _looks_secret(arg: Any) -> bool:
    text = str(arg).lower()
    return any(word in text for word in ("password", "secret", "token", "apikey", "api-key"))
