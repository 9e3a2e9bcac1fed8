"""`check-inject`: why a pod (or workload, or namespace) has or lacks a sidecar, and the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import global_options
from kubectl_meshdebug.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNREACHABLE, UsageError

if TYPE_CHECKING:
    from kubectl_meshdebug.render.output import Printer

KINDS = ["Namespace", "Pod", "MutatingWebhookConfiguration", "ConfigMap", "Service",
         "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"]


@click.command("check-inject", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug check-inject httpbin-7d9c -n foo
  kubectl meshdebug check-inject deploy/activator -n knative-serving
  kubectl meshdebug check-inject ns/bar
  kubectl meshdebug check-inject deploy/web -n shop -f cluster-objects.yaml   # offline
""")
@click.argument("target")
@global_options
@click.pass_context
def check_inject(ctx: click.Context, target: str) -> int:
    """Why a pod has or lacks an istio-proxy sidecar, checked in the injector's own order:
    system namespaces, namespace and pod labels, hostNetwork, the mutating webhooks that
    select it (and their caBundle and Service), the injector's policy, and for a workload
    whose pods are missing, the ReplicaSet's webhook failure events. Exit code 1 when the
    pod should have a sidecar and lacks it, or injection is broken.
    """
    from kubectl_meshdebug.kube.state import meta
    from kubectl_meshdebug.kube.targets import (
        close_names,
        pods_of_workload,
        proxy_container,
    )
    from kubectl_meshdebug.mesh.injection import classify_event, explain

    rt = runtime(ctx)
    state = rt.state()
    state.prefetch(KINDS)
    ref, ns = rt.pod_target(target)
    if ref.kind == "Namespace":
        ns = ref.name
    if ns != rt.namespace:
        state.widen(ns)
    reports = []
    events: list[dict[str, Any]] = []
    if ref.kind == "Namespace":
        if state.get("Namespace", None, ns) is None and state.live:
            raise UsageError(f"namespace {ns} not found",
                             hint=close_names(ns, state.names("Namespace", None)))
        reports.append(explain(state, f"namespace {ns}", ns, {}, {}, None))
        for pod in state.list("Pod", ns):
            report = explain(state, f"pod {ns}/{meta(pod).get('name')}", ns, meta(pod),
                             pod.get("spec") or {}, proxy_container(pod) is not None)
            if report.problem:
                reports.append(report)
    elif ref.kind == "Pod":
        pod = state.get("Pod", ns, ref.name)
        if pod is None:
            raise UsageError(f"pod {ns}/{ref.name} not found",
                             hint=close_names(ref.name, state.names("Pod", ns)))
        reports.append(explain(state, f"pod {ns}/{ref.name}", ns, meta(pod),
                               pod.get("spec") or {}, proxy_container(pod) is not None))
    else:
        workload = state.get(ref.kind, ns, ref.name)
        if workload is None:
            raise UsageError(f"{ref.kind.lower()} {ns}/{ref.name} not found",
                             hint=close_names(ref.name, state.names(ref.kind, ns)))
        template = ((workload.get("spec") or {}).get("template")) or {}
        pods = pods_of_workload(state, ref.kind, ref.name, ns)
        has = (proxy_container(pods[0]) is not None) if pods else None
        reports.append(explain(state, f"{ref.kind.lower()} {ns}/{ref.name}", ns,
                               template.get("metadata") or {}, template.get("spec") or {},
                               has))
        if not pods:
            events = _failure_events(state, ns, ref.kind, ref.name, workload)
            for event in events:
                cause = classify_event(str(event.get("message", "")), rt.istio_namespace)
                if cause:
                    report = reports[0]
                    report.problem = True
                    report.reason = (f"no pods: creating them fails calling the injector "
                                     f"webhook: {cause[0]}")
                    report.fix = cause[1]
                    break
    doc = {"reports": [r.to_dict() for r in reports],
           "events": [{"object": e.get("involvedObject", {}).get("name"),
                       "reason": e.get("reason"), "message": e.get("message")}
                      for e in events]}
    if rt.settings.output in ("json", "yaml"):
        rt.printer.document(doc)
    else:
        render(rt.printer, doc)
    rt.note_limits()
    if any(r.problem for r in reports):
        return EXIT_FINDINGS
    if any(r.unknown and not r.has_sidecar for r in reports):
        return EXIT_UNREACHABLE  # the answer hinged on what could not be read
    return EXIT_OK


def _failure_events(state: Any, ns: str, kind: str, name: str, workload: dict) -> list[dict]:
    """FailedCreate events of the workload and of the ReplicaSets it owns."""
    from kubectl_meshdebug.kube.state import meta

    owners = {name}
    uid = meta(workload).get("uid")
    for rs in state.list("ReplicaSet", ns):
        if any(o.get("uid") == uid or (o.get("kind") == kind and o.get("name") == name)
               for o in meta(rs).get("ownerReferences") or []):
            owners.add(meta(rs).get("name", ""))
    return [e for e in state.list("Event", ns)
            if (e.get("involvedObject") or {}).get("name") in owners
            and e.get("reason") in ("FailedCreate", "FailedCreatePodSandBox")]


def render(printer: Printer, doc: dict[str, Any]) -> None:
    for report in doc["reports"]:
        printer.line(f"check-inject: {report['target']}")
        for step in report["steps"]:
            mark = {True: "ok ", False: "no ", None: " - "}[step["ok"]]
            printer.line(f"  {mark} {step['check']}: {step['detail']}")
        has = report["has_sidecar"]
        state = {True: "has a sidecar", False: "has NO sidecar", None: ""}[has]
        verdict = {True: "should be injected", False: "will not be injected",
                   None: "injection unknown"}[report["should_have_sidecar"]]
        label = printer.style("PROBLEM", "red", bold=True) if report["problem"] else (
            printer.style("UNKNOWN", "yellow", bold=True)
            if report["should_have_sidecar"] is None else "OK")
        printer.line(f"  {label}: {verdict}" + (f", {state}" if state else "") +
                     f": {report['reason']}")
        if report["fix"]:
            printer.line(f"  fix: {report['fix']}")
    for event in doc["events"]:
        printer.line(f"  event {event['object']} {event['reason']}: {event['message']}")
