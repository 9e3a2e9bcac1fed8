"""`audit`: mesh-wide configuration checks on the objects alone (live or -f files)."""

from __future__ import annotations

from typing import Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import all_namespaces_option, global_options
from kubectl_meshdebug.errors import EXIT_FINDINGS, EXIT_OK, UsageError


@click.command("audit", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug audit -A                       # the whole mesh
  kubectl meshdebug audit -n foo                   # findings about objects in foo
  kubectl meshdebug audit -f manifests/ -A         # offline, before you apply
  kubectl meshdebug collect -A | kubectl meshdebug audit -f - -A -o json
  kubectl meshdebug audit -A --suppress 'IST0173=DestinationRule reviews.foo'
  kubectl meshdebug audit -A --failure-threshold warning   # CI: fail on warnings too
""")
@click.option("--check", "checks", multiple=True, metavar="ID",
              help="Run only this check (repeatable).")
@click.option("--severity", type=click.Choice(["error", "warning", "info"]), default="info",
              show_default=True, help="Show findings of this severity and above.")
@click.option("--suppress", "suppress", multiple=True, metavar="CODE[=KIND NAME]",
              help="Leave out findings of CODE (an id or IST code; * matches any), on one "
              "object if KIND NAME is given (NS/NAME or NAME.NS; repeatable). The annotation "
              "galley.istio.io/analyze-suppress: CODE,... on an object does the same.")
@click.option("--failure-threshold", type=click.Choice(["error", "warning", "info"]),
              default="error", show_default=True,
              help="Exit 1 when a finding of this severity or above is shown.")
@all_namespaces_option
@global_options
@click.pass_context
def audit(ctx: click.Context, checks: tuple[str, ...], severity: str, suppress: tuple[str, ...],
          failure_threshold: str) -> int:
    """Check the mesh's configuration for the mistakes that break traffic, as istioctl
    analyze and Kiali do: Services (port 443 named http, unnamed ports), DestinationRules
    (subsets without pods, TLS that overrides mTLS), VirtualServices (routes to hosts or
    subsets that do not exist, weights, gateways), PeerAuthentications, AuthorizationPolicies,
    Sidecars, Gateways, ServiceEntries, EnvoyFilters, WorkloadGroups and the workloads'
    annotations. Each finding names its istioctl message or Kiali code. Exit code 1 when
    there are errors (see --failure-threshold).
    """
    from kubectl_meshdebug.checks.registry import audit_ids
    from kubectl_meshdebug.checks.runner import run_audit
    from kubectl_meshdebug.checks.suppress import Suppression, apply
    from kubectl_meshdebug.render.findings import findings_document, print_findings

    rt = runtime(ctx)
    rules = [Suppression(spec) for spec in suppress]  # a usage error before any read
    known = audit_ids()
    unknown = [c for c in checks if c not in known]
    if unknown:
        raise UsageError(f"unknown check {unknown[0]!r}",
                         hint="audit checks: " + ", ".join(known))
    scope = None if rt.settings.all_namespaces else rt.namespace
    rt.tolerate_malformed = True
    state = rt.state()
    ran, findings = run_audit(state, scope, list(checks) or None, rt.malformed)
    levels = ("error", "warning", "info")
    keep = levels[: levels.index(severity) + 1]
    findings, suppressed = apply([f for f in findings if f.severity in keep], rules, state)
    from kubectl_meshdebug.kube.kinds import KINDS

    for kind in sorted(state.missing_kinds):
        if "istio.io" in KINDS[kind].group:
            rt.printer.note(f"note: the API server has no {kind} resource: Istio is not "
                            "installed here, or not that part of it")
        else:
            rt.printer.note(f"note: the API server has no {kind} resource (404)")
    rt.note_limits()
    where = "in all namespaces" if scope is None else f"in namespace {scope}"
    if rt.settings.output in ("json", "yaml"):
        doc = findings_document({"scope": scope or "*"}, ran, findings)
        doc["suppressed"] = suppressed
        rt.printer.document(doc)
    else:
        print_findings(rt.printer, findings, title=f"Audit {where}:", checked=ran,
                       wide=rt.settings.output == "wide")
    if rt.offline:  # after the report: a reader that closed stdout wanted no more
        for line in _assumed(state, rt.istio_namespace):
            rt.printer.note(f"note: {line}")
    if suppressed:
        rt.printer.note(f"note: {suppressed} finding{'s' if suppressed != 1 else ''} "
                        "suppressed (--suppress or the analyze-suppress annotation)")
    failing = levels[: levels.index(failure_threshold) + 1]
    return EXIT_FINDINGS if any(f.severity in failing for f in findings) else EXIT_OK


def _assumed(state: Any, istio_ns: str) -> list[str]:
    """What the files lack that the checks read, and what audit assumed instead (a
    `kubectl get svc,pods,dr,vs -o yaml` misses the mesh config and the Namespaces)."""
    from kubectl_meshdebug.mesh.meshconfig import load_mesh_config

    out = []
    if load_mesh_config(state).source == "Istio defaults":
        out.append(f"no mesh config (ConfigMap {istio_ns}/istio) in the files: Istio's "
                   "defaults assumed (auto mTLS on, outboundTrafficPolicy ALLOW_ANY)")
    if not state.list("Namespace"):
        out.append("no Namespace objects in the files: injection labels unknown")
    if not state.list("Pod"):
        out.append("no Pods in the files: subsets and selectors matched against no workload")
    if out:
        out.append("save everything the checks read with: kubectl meshdebug collect -A")
    return out
