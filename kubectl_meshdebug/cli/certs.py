"""`certs`: the certificates a sidecar holds, whether they are valid, whose identity they
carry and which roots it trusts (istioctl proxy-config secret and rootca-compare, with a
verdict)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from kubectl_meshdebug.cli.common import CONTEXT, runtime
from kubectl_meshdebug.cli.options import global_options
from kubectl_meshdebug.cli.proxyconfig import Source, pod_and_dump
from kubectl_meshdebug.errors import EXIT_FINDINGS, EXIT_OK
from kubectl_meshdebug.render.output import Column

CHECKED = ["cert-missing", "cert-expired", "cert-not-rotated", "cert-identity-mismatch",
           "root-ca-mismatch", "gateway-credential-not-found"]

COLUMNS = [
    Column("name", "RESOURCE NAME"), Column("type", "TYPE"), Column("state", "STATUS"),
    Column("valid", "VALID CERT", fmt=lambda v: "true" if v else "false"),
    Column("serial_number", "SERIAL NUMBER"), Column("not_after", "NOT AFTER"),
    Column("not_before", "NOT BEFORE"),
    Column("identities", "IDENTITY", wide=True, fmt=lambda v: ",".join(v) or "-"),
    Column("issuer", "ISSUER", wide=True),
    Column("fingerprint_sha256", "SHA-256", wide=True, fmt=lambda v: v[:16] or "-"),
]


def _items(src: Source) -> list[Any]:
    from kubectl_meshdebug.envoy.certificates import secret_items

    return secret_items(src.dump(["secrets"]).sections.get("secrets"))


@click.command("certs", context_settings=CONTEXT, epilog="""Examples:

\b
  kubectl meshdebug certs httpbin-5f9 -n foo
  kubectl meshdebug certs httpbin-5f9 -n foo --compare sleep-7d4.bar
  kubectl meshdebug certs httpbin-5f9 -n foo -o wide
  kubectl meshdebug certs --dump config_dump.json
""")
@pod_and_dump
@click.option("--compare", "other", metavar="POD",
              help="Also say whether this pod shares a root with POD (POD.NAMESPACE or "
                   "NS/POD for another namespace), as istioctl proxy-config rootca-compare.")
@global_options
@click.pass_context
def certs(ctx: click.Context, pod: str | None, dump_file: str | None,
          other: str | None) -> int:
    """The workload certificate and roots a sidecar holds (SDS secrets `default` and
    ROOTCA): serial, validity, identity and issuer, as istioctl proxy-config secret shows
    them, then what is wrong: no certificate, expired, not renewed at half-life, an
    identity other than the pod's service account, a chain its own roots do not anchor,
    or roots that differ from the root istiod publishes (ConfigMap istio-ca-root-cert).
    Exit code 1 when something is wrong. Private keys are never read (Envoy redacts them).
    """
    from kubectl_meshdebug.checks.certificates import (
        ROOT_CONFIGMAP,
        check_certificates,
        compare_roots,
        published_roots,
        unloaded_credentials,
    )
    from kubectl_meshdebug.envoy.certificates import row
    from kubectl_meshdebug.mesh.meshconfig import load_mesh_config
    from kubectl_meshdebug.render.findings import findings_document, print_findings

    rt = runtime(ctx)
    src = Source(ctx, pod, dump_file)
    now = datetime.now(UTC)
    items = _items(src)
    label = src.proxy.label if src.proxy is not None else (pod or "the dump")
    pod_obj = src.proxy.pod if src.proxy is not None else None
    trust_domain, published = "cluster.local", None
    if rt.has_cluster_view() and src.proxy is not None:
        state = rt.state()
        trust_domain = load_mesh_config(state).trust_domain
        published = published_roots(state.get("ConfigMap", src.proxy.namespace, ROOT_CONFIGMAP))
    findings = check_certificates(label, items, now, pod=pod_obj, trust_domain=trust_domain,
                                  published=published) + unloaded_credentials(label, items)
    shared = None
    if other:
        other_src = Source(ctx, other, None)
        assert other_src.proxy is not None
        shared, more = compare_roots(label, items, other_src.proxy.label, _items(other_src))
        findings += more
    rows = [row(i, now) for i in items]
    if rt.settings.output in ("json", "yaml"):
        doc = findings_document({"pod": label}, CHECKED, findings)
        doc.update({"kind": "CertificateList", "items": rows})
        if other:
            doc["shares_root_with"] = {"pod": other, "shared": shared}
        rt.printer.document(doc)
    else:
        rt.printer.table(rows, COLUMNS, wide=rt.settings.output == "wide")
        if other:
            rt.printer.line("")
            rt.printer.line(f"{label} and {other} "
                            + ("share a root: mTLS between them can verify"
                               if shared else "share no root: mTLS between them fails"))
        rt.printer.line("")
        print_findings(rt.printer, findings, title=f"certs: {label}",
                       checked=CHECKED, wide=rt.settings.output == "wide",
                       none_found="Certificates valid.")
    rt.note_limits()
    return EXIT_FINDINGS if any(f.severity == "error" for f in findings) else EXIT_OK
