"""Why a pod has, or lacks, a sidecar: Istio's injection decision, step by step.

The order follows the injector: system namespaces and hostNetwork pods are never injected;
then the mutating webhooks decide whether istiod is asked at all (their namespace and
object selectors against the labels); then the injector's policy and selectors, and the
pod's own `sidecar.istio.io/inject`. Without webhook objects, Istio's default webhooks
for the revisions in use stand in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kubectl_meshdebug.kube.state import (
    ClusterState,
    full_name,
    label_selector_matches,
    labels,
    meta,
)
from kubectl_meshdebug.mesh.commands import is_label

Obj = dict[str, Any]
NEVER_NAMESPACES = {"kube-system", "kube-public"}
INJECT = "sidecar.istio.io/inject"
REV = "istio.io/rev"
DATAPLANE = "istio.io/dataplane-mode"

# The causes of webhook call failures, as they appear in ReplicaSet events.
WEBHOOK_FAILURES = [
    (re.compile(r"no endpoints available for service", re.I),
     "istiod has no ready pods behind its Service", "check istiod: kubectl get pods -n "
     "{ns} -l app=istiod; kubectl get endpoints -n {ns}"),
    (re.compile(r"context deadline exceeded|Client\.Timeout exceeded|i/o timeout", re.I),
     "the API server cannot reach istiod on port 15017 (often a firewall on private clusters)",
     "allow the control plane to reach the nodes on TCP 15017"),
    (re.compile(r"x509: certificate signed by unknown authority", re.I),
     "the webhook's caBundle does not match istiod's certificate",
     "restart istiod so it patches the caBundle: kubectl rollout restart deploy/istiod "
     "-n {ns}"),
    (re.compile(r"unable to load root certificates|unable to parse bytes as PEM", re.I),
     "the webhook's caBundle is not a PEM certificate (corrupted or truncated)",
     "restart istiod so it writes the caBundle again: kubectl rollout restart deploy/istiod "
     "-n {ns}"),
    (re.compile(r'Service "[^"]+" not found|services "[^"]+" not found', re.I),
     "the Service the webhook calls does not exist (an uninstalled revision?)",
     "delete the stale MutatingWebhookConfiguration or reinstall that revision"),
    (re.compile(r"connection refused", re.I),
     "istiod refused the connection", "check istiod's logs and readiness"),
]


@dataclass
class Step:
    check: str
    ok: bool | None  # True: favours injection, False: blocks it, None: informational
    detail: str


@dataclass
class InjectionReport:
    target: str
    namespace: str
    has_sidecar: bool | None  # None for a workload template
    expected: bool
    reason: str
    fix: str = ""
    problem: bool = False
    steps: list[Step] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)
    unknown: bool = False  # what decides could not be read (RBAC)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "namespace": self.namespace,
                "has_sidecar": self.has_sidecar,
                "should_have_sidecar": None if self.unknown and not self.has_sidecar
                else self.expected, "unknown": self.unknown,
                "problem": self.problem, "reason": self.reason, "fix": self.fix,
                "webhooks": self.webhooks,
                "steps": [s.__dict__ for s in self.steps]}


def _ns(namespace: str) -> str:
    """A namespace put into a suggested command: only a name Kubernetes allows."""
    return namespace if is_label(namespace) else "<namespace>"


def default_webhooks(revisions: set[str], istio_ns: str = "istio-system") -> list[dict[str, Any]]:
    """Istio's four injector webhooks per revision, as `istioctl install` creates them."""
    hooks = []
    for rev in sorted(revisions):
        svc = {"name": "istiod" if rev == "default" else f"istiod-{rev}",
               "namespace": istio_ns}
        base = {"clientConfig": {"service": svc, "caBundle": "(assumed)"},
                "failurePolicy": "Fail", "meshdebugDefault": True}
        hooks.append({**base, "name": f"rev.namespace.sidecar-injector.istio.io/{rev}",
                      "namespaceSelector": {"matchExpressions": [
                          {"key": REV, "operator": "In", "values": [rev]},
                          {"key": "istio-injection", "operator": "DoesNotExist"}]},
                      "objectSelector": {"matchExpressions": [
                          {"key": INJECT, "operator": "NotIn", "values": ["false"]}]}})
        hooks.append({**base, "name": f"rev.object.sidecar-injector.istio.io/{rev}",
                      "namespaceSelector": {"matchExpressions": [
                          {"key": REV, "operator": "DoesNotExist"},
                          {"key": "istio-injection", "operator": "DoesNotExist"}]},
                      "objectSelector": {"matchExpressions": [
                          {"key": INJECT, "operator": "NotIn", "values": ["false"]},
                          {"key": REV, "operator": "In", "values": [rev]}]}})
        if rev == "default":
            hooks.append({**base, "name": "namespace.sidecar-injector.istio.io",
                          "namespaceSelector": {"matchExpressions": [
                              {"key": "istio-injection", "operator": "In",
                               "values": ["enabled"]}]},
                          "objectSelector": {"matchExpressions": [
                              {"key": INJECT, "operator": "NotIn", "values": ["false"]}]}})
            hooks.append({**base, "name": "object.sidecar-injector.istio.io",
                          "namespaceSelector": {"matchExpressions": [
                              {"key": "istio-injection", "operator": "DoesNotExist"},
                              {"key": REV, "operator": "DoesNotExist"}]},
                          "objectSelector": {"matchExpressions": [
                              {"key": INJECT, "operator": "In", "values": ["true"]},
                              {"key": REV, "operator": "DoesNotExist"}]}})
    return hooks


def injector_webhooks(state: ClusterState) -> tuple[list[dict[str, Any]], bool]:
    """(webhooks that call an Istio injector, whether they came from real objects)."""
    hooks = []
    for cfg in state.list("MutatingWebhookConfiguration"):
        for hook in cfg.get("webhooks") or []:
            name = str(hook.get("name", ""))
            if "sidecar-injector" in name or "istio" in meta(cfg).get("name", ""):
                hooks.append({**hook, "configuration": meta(cfg).get("name", "")})
    if hooks:
        return hooks, True
    revisions = {"default"}
    for ns in state.list("Namespace"):
        if labels(ns).get(REV):
            revisions.add(labels(ns)[REV])
    return default_webhooks(revisions, state.istio_namespace), False


def _injector_config(state: ClusterState, revision: str | None) -> dict[str, Any]:
    import yaml

    names = [f"istio-sidecar-injector-{revision}"] if revision and revision != "default" else []
    names.append("istio-sidecar-injector")
    for name in names:
        for cm in state.list("ConfigMap"):
            if meta(cm).get("name") == name:
                try:
                    doc = yaml.safe_load((cm.get("data") or {}).get("config") or "") or {}
                except yaml.YAMLError:
                    doc = {}
                if isinstance(doc, dict):
                    doc["_source"] = f"ConfigMap {meta(cm).get('namespace')}/{name}"
                    return doc
    return {}


def namespaces_by_default(state: ClusterState) -> str:
    """The injector ConfigMap's source when Istio was installed with
    sidecarInjectorWebhook.enableNamespacesByDefault (every namespace without an injection
    label is injected), else ""."""
    import json

    for cm in state.list("ConfigMap"):
        if not str(meta(cm).get("name", "")).startswith("istio-sidecar-injector"):
            continue
        data = cm.get("data") if isinstance(cm.get("data"), dict) else {}
        try:
            values = json.loads(data.get("values") or "{}")
        except (TypeError, ValueError):
            continue
        hook = values.get("sidecarInjectorWebhook") if isinstance(values, dict) else None
        if isinstance(hook, dict) and hook.get("enableNamespacesByDefault") is True:
            return f"ConfigMap {full_name(cm)}"
    return ""


def _selector_list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value or [] if isinstance(v, dict)]


def explain(state: ClusterState, target: str, namespace: str, pod_meta: Obj,
            pod_spec: Obj, has_sidecar: bool | None) -> InjectionReport:
    ns_obj = state.get("Namespace", None, namespace)
    ns_labels = labels(ns_obj) if ns_obj else {}
    pod_labels = dict(pod_meta.get("labels") or {})
    pod_ann = dict(pod_meta.get("annotations") or {})
    report = InjectionReport(target, namespace, has_sidecar, False, "")
    steps = report.steps

    def done(expected: bool, reason: str, fix: str = "") -> InjectionReport:
        report.expected, report.reason, report.fix = expected, reason, fix
        if has_sidecar is not None and has_sidecar != expected:
            report.problem = True
            if has_sidecar is False and expected:
                report.reason = (f"{reason}; but this pod has no sidecar: it was created "
                                 "before injection was enabled, or its creation bypassed it")
                report.fix = fix or ("recreate it: kubectl rollout restart deploy/<owner> -n "
                                     f"{_ns(namespace)} (or delete the pod)")
        elif has_sidecar is None and not expected:
            report.problem = "istio-injection" in ns_labels or REV in ns_labels
        return report

    if namespace in NEVER_NAMESPACES:
        steps.append(Step("namespace", False, f"{namespace} is never injected"))
        return done(False, f"pods in {namespace} are never injected")
    steps.append(Step("namespace", True, f"{namespace} is not a system namespace"))
    if pod_labels.get("app") == "istiod" or pod_labels.get("istio") == "pilot":
        steps.append(Step("control plane", False, "istiod itself"))
        return done(False, "istiod (Istio's control plane) runs without a sidecar")
    if ns_obj is None and not state.readable("Namespace", None):
        # RBAC kept the Namespace from us: its labels decide, so the verdict is unknown
        # (never "not labelled", which would send the user to label a labelled namespace).
        steps.append(Step("namespace labels", None, f"unknown: not allowed to read Namespace "
                          f"{namespace}"))
        report.unknown = True
        if has_sidecar:
            return done(True, "the pod has its sidecar (whether its namespace asks for "
                        "injection could not be read)")
        report.expected, report.problem = False, False
        report.reason = (f"cannot tell: the injection labels of namespace {namespace} could "
                         "not be read")
        return report
    shown = {k: v for k, v in ns_labels.items() if k in ("istio-injection", REV)}
    steps.append(Step("namespace labels", bool(shown) and ns_labels.get("istio-injection") !=
                      "disabled", ", ".join(f"{k}={v}" for k, v in shown.items())
                      or "no istio-injection or istio.io/rev label"))
    ambient = ns_labels.get(DATAPLANE) == "ambient"
    injecting = ns_labels.get("istio-injection") == "enabled" or (
        REV in ns_labels and ns_labels.get("istio-injection") != "disabled")
    if "istio-injection" in ns_labels and REV in ns_labels and \
            ns_labels.get("istio-injection") != "disabled":
        steps.append(Step("namespace labels", None, "both istio-injection and istio.io/rev: "
                          "istio-injection wins and the revision label is ignored (IST0123)"))
    if ambient and injecting:
        steps.append(Step("namespace labels", None, f"both sidecar injection and {DATAPLANE}="
                          "ambient: pods get a sidecar and ambient's ztunnel skips them; "
                          "choose one (IST0123)"))
    if ambient and not injecting:
        steps.append(Step("ambient", None, f"{DATAPLANE}=ambient: the namespace uses ambient "
                          "mode (ztunnel), not sidecars"))
        return done(False, f"namespace {namespace} uses ambient mode, so no sidecar is "
                    "expected")
    by_default = namespaces_by_default(state)
    if by_default and "istio-injection" not in ns_labels and REV not in ns_labels:
        steps.append(Step("namespace labels", True, f"no label, but {by_default} sets "
                          "enableNamespacesByDefault: every namespace is injected (IST0148)"))
        if not (pod_spec or {}).get("hostNetwork") and pod_labels.get(INJECT) != "false":
            return done(True, f"namespace {namespace} is injected by default (Istio was "
                        "installed with enableNamespacesByDefault)")
    if (pod_spec or {}).get("hostNetwork"):
        steps.append(Step("hostNetwork", False, "the pod uses the node's network"))
        return done(False, "pods with hostNetwork: true are never injected",
                    "run it without hostNetwork if it must be in the mesh")
    label_opt = pod_labels.get(INJECT)
    ann_opt = pod_ann.get(INJECT)
    if label_opt is not None or ann_opt is not None:
        steps.append(Step("pod opt-in/out", (label_opt or ann_opt) == "true",
                          f"label {INJECT}={label_opt}" if label_opt is not None else
                          f"annotation {INJECT}={ann_opt} (deprecated; use the label)"))
    hooks, real = injector_webhooks(state)
    matching = [h for h in hooks
                if label_selector_matches(h.get("namespaceSelector"), ns_labels)
                and label_selector_matches(h.get("objectSelector"), pod_labels)]
    report.webhooks = [str(h.get("name")) for h in matching]
    source = "MutatingWebhookConfiguration" if real else "assuming Istio's default webhooks: " \
        "no MutatingWebhookConfiguration was read"
    if not matching:
        steps.append(Step("webhooks", False, f"no injector webhook selects the pod ({source})"))
        if ns_labels.get("istio-injection") == "disabled":
            return done(False, f"namespace {namespace} has istio-injection=disabled")
        if label_opt == "false":
            return done(False, f"the pod opts out with label {INJECT}=false")
        rev = ns_labels.get(REV) or pod_labels.get(REV)
        if rev and "istio-injection" not in ns_labels:
            known = sorted({str(h.get("name", "")).rsplit("/", 1)[-1] for h in hooks})
            return done(False, f"no injector webhook serves revision {rev!r}",
                        f"install revision {rev!r}, or relabel: kubectl label namespace "
                        f"{_ns(namespace)} istio.io/rev=<installed revision> --overwrite "
                        f"(webhooks: {', '.join(known)})")
        return done(False, f"namespace {namespace} is not labelled for injection",
                    f"kubectl label namespace {_ns(namespace)} istio-injection=enabled "
                    "(or istio.io/rev=<revision>), then restart the workloads")
    hook = matching[0]
    steps.append(Step("webhooks", True, f"{hook.get('name')} selects the pod ({source})"))
    client = hook.get("clientConfig") or {}
    if real and not client.get("caBundle"):
        steps.append(Step("caBundle", False, f"{hook.get('name')} has no caBundle"))
        report.problem = True
        return done(True, f"webhook {hook.get('name')} has no caBundle: the API server cannot "
                    "verify istiod, injection fails (x509: certificate signed by unknown "
                    "authority)", "restart istiod so it patches the caBundle: kubectl rollout "
                    f"restart deploy/{_svc_name(client)} -n {_svc_ns(state, client)}")
    if real and not _is_pem_bundle(client.get("caBundle")):
        steps.append(Step("caBundle", False, f"{hook.get('name')}'s caBundle is not a PEM "
                                             "certificate"))
        report.problem = True
        return done(True, f"webhook {hook.get('name')}'s caBundle is not a PEM certificate: "
                    "the API server refuses every pod it selects (unable to load root "
                    "certificates)", "restart istiod so it writes the caBundle again: "
                    f"kubectl rollout restart deploy/{_svc_name(client)} -n "
                    f"{_svc_ns(state, client)}")
    svc_ref = client.get("service") or {}
    if real and svc_ref:
        svc = state.get("Service", svc_ref.get("namespace"), svc_ref.get("name", ""))
        if svc is None:
            steps.append(Step("webhook service", False, f"{svc_ref.get('namespace')}/"
                              f"{svc_ref.get('name')} does not exist"))
            report.problem = True
            return done(True, f"webhook {hook.get('name')} calls Service "
                        f"{svc_ref.get('namespace')}/{svc_ref.get('name')}, which does not "
                        "exist: pod creation fails (failurePolicy "
                        f"{hook.get('failurePolicy', 'Fail')})",
                        "delete the stale webhook configuration, or reinstall that revision")
        steps.append(Step("webhook service", True,
                          f"{svc_ref.get('namespace')}/{svc_ref.get('name')} exists"))
    revision = hook.get("name", "").rsplit("/", 1)[-1] if "/" in str(hook.get("name")) \
        else ns_labels.get(REV) or pod_labels.get(REV)
    config = _injector_config(state, revision)
    policy = str(config.get("policy", "enabled"))
    if config:
        steps.append(Step("injector policy", policy != "disabled",
                          f"policy {policy} ({config['_source']})"))
    for sel in _selector_list(config.get("neverInjectSelector")):
        if label_selector_matches(sel, pod_labels):
            return done(False, f"the injector's neverInjectSelector matches the pod ({sel})")
    always = any(label_selector_matches(s, pod_labels)
                 for s in _selector_list(config.get("alwaysInjectSelector")))
    if ann_opt == "false" and label_opt is None:
        return done(False, f"the pod opts out with annotation {INJECT}=false")
    if policy == "disabled" and not always and (label_opt or ann_opt) != "true":
        return done(False, "the injector's policy is disabled and the pod does not ask for "
                    f"injection ({INJECT}=true)", f"add the label {INJECT}=true to the pod "
                    "template")
    return done(True, f"{hook.get('name')} selects the pod and the injector's policy is "
                f"{policy}")


def _is_pem_bundle(value: Any) -> bool:
    """Is a webhook's caBundle (base64 in the object) a PEM certificate block?"""
    import base64
    import binascii

    if not isinstance(value, str):
        return False
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return b"-----BEGIN CERTIFICATE-----" in decoded


def _svc_name(client: Obj) -> str:
    """The istiod Deployment behind a webhook: named as its Service (istiod, istiod-REV)."""
    name = str((client.get("service") or {}).get("name") or "istiod")
    return name if is_label(name) else "istiod"


def _svc_ns(state: ClusterState, client: Obj) -> str:
    """Where that istiod runs: the webhook's Service namespace, else --istio-namespace."""
    return _ns(str((client.get("service") or {}).get("namespace") or state.istio_namespace))


def classify_event(message: str, istio_ns: str = "istio-system") -> tuple[str, str] | None:
    for pattern, cause, fix in WEBHOOK_FAILURES:
        if pattern.search(message):
            return cause, fix.replace("{ns}", _ns(istio_ns))
    if "sidecar-injector" in message or "webhook" in message:
        return "the injector webhook call failed", "read istiod's logs"
    return None


def missing_sidecar_reason(namespace: str, ns_labels: dict[str, str] | None) -> str:
    """Why a pod may lack its sidecar, from its namespace's labels, in a few words."""
    if ns_labels is None:
        return "injection state of the namespace unknown"
    if "istio-injection" in ns_labels or "istio.io/rev" in ns_labels:
        return (f"namespace {namespace} has "
                + ", ".join(f"{k}={ns_labels[k]}" for k in ("istio-injection", "istio.io/rev")
                            if k in ns_labels)
                + "; the pod was created before, or injection was skipped")
    return f"namespace {namespace} has no istio-injection or istio.io/rev label"
