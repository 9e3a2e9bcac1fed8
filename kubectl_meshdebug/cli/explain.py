"""`explain [ID]`: a finding's page (what it means, how it is detected, the fix), from the
pages shipped with the tool, so the `docs:` line of every finding works offline."""

from __future__ import annotations

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import global_options
from kubectl_meshdebug.errors import EXIT_OK, MeshdebugError, UsageError


@click.command("explain", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug explain                         # every finding id, with its title
  kubectl meshdebug explain dr-tls-overrides-mtls
  kubectl meshdebug explain subset-no-pods -o json
""")
@click.argument("finding_id", metavar="[ID]", required=False)
@global_options
@click.pass_context
def explain(ctx: click.Context, finding_id: str | None) -> int:
    """Print what a finding means, how the tool detects it and the fix (the page its
    `docs:` line names). Without ID, list every finding with its severity and title."""
    from kubectl_meshdebug.checks.registry import catalogue
    from kubectl_meshdebug.findingpages import page

    rt = runtime(ctx)
    types = catalogue()
    structured = rt.settings.output in ("json", "yaml")
    if finding_id is None:
        rows = [{"id": t.id, "severity": t.severity, "title": t.title}
                for t in sorted(types.values(), key=lambda t: t.id)]
        if structured:
            rt.printer.document({"findings": rows})
        else:
            from kubectl_meshdebug.render.output import Column

            rt.printer.table(rows, [Column("id", "ID"), Column("severity", "SEVERITY"),
                                    Column("title", "TITLE")])
        return EXIT_OK
    ftype = types.get(finding_id)
    if ftype is None:
        from kubectl_meshdebug.envoy.logging import closest

        near = closest(finding_id, list(types))
        raise UsageError(f"{finding_id!r} is not a finding id",
                         hint=(f"did you mean {', '.join(near)}? " if near else "")
                         + "list them: kubectl meshdebug explain")
    text = page(ftype.id)
    if text is None:
        raise MeshdebugError(f"the page of {ftype.id} is not in this build of the tool",
                             hint=f"see {ftype.docs} in the kubectl-meshdebug repository")
    if structured:
        rt.printer.document({"id": ftype.id, "severity": ftype.severity, "title": ftype.title,
                             "page": text})
    else:
        rt.printer.raw(text if text.endswith("\n") else text + "\n")
    return EXIT_OK
