"""`audit -f` against the Istio analyzers' and Kiali's own test inputs and expected findings.

For every input whose analyzer or checker overlaps one of our checks, the set of objects we
flag with the matching finding id must equal the set the peer flags. Divergences where we
judge the peer wrong are listed in KNOWN_DIVERGENCES and explained in docs/conformance.md;
the test asserts they still diverge exactly so, so the page stays true.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_meshdebug.checks.runner import run_audit
from kubectl_meshdebug.kube.manifests import load_checked, load_manifests
from kubectl_meshdebug.kube.state import ClusterState, ManifestSource
from tests.helpers import DATA

ISTIO = DATA / "istio" / "analyzers"
KIALI = DATA / "kiali" / "validations"

# analyzer -> {Istio message code: our finding id}
ISTIO_MAP = {
    "service.PortNameAnalyzer": {"IST0118": "port-name-unrecognized",
                                 "IST0150": "externalname-port-name-invalid"},
    "virtualservice.DestinationHostAnalyzer": {"IST0101": "vs-host-not-found",
                                               "IST0112": "vs-port-required",
                                               "IST0140": "ingress-route-rules-not-applied"},
    "virtualservice.DestinationRuleAnalyzer": {"IST0101": "vs-subset-undefined"},
    "destinationrule.SubsetSelectPodAnalyzer": {"IST0173": "subset-no-pods",
                                                "IST0174": "dr-host-not-found"},
    "destinationrule.CaCertificateAnalyzer": {"IST0128": "dr-tls-no-ca",
                                              "IST0129": "dr-port-tls-no-ca"},
    "sidecar.SelectorAnalyzer": {"IST0101": "sidecar-selector-no-pods",
                                 "IST0110": "sidecar-selector-conflict",
                                 "IST0111": "sidecar-multiple-defaults",
                                 "IST0167": "sidecar-in-ambient"},
    "virtualservice.GatewayAnalyzer": {"IST0101": "vs-gateway-not-found",
                                       "IST0132": "vs-host-not-in-gateway",
                                       "IST0165": "vs-internal-gateway"},
    "virtualservice.ConflictingMeshGatewayHostsAnalyzer": {"IST0109": "vs-host-conflict"},
    "gateway.IngressGatewayPortAnalyzer": {"IST0101": "gateway-selector-no-pods",
                                           "IST0162": "gateway-port-not-on-service"},
    "gateway.ConflictingGatewayAnalyzer": {"IST0145": "gateway-conflict"},
    "gateway.CertificateAnalyzer": {"IST0138": "gateway-duplicate-certificate"},
    # IST0101 for a credentialName (ours) and for a selector no pod matches (as
    # gateway.IngressGatewayPortAnalyzer reports it too); IST0161 needs the Secret's data,
    # which the tool never reads
    "gateway.SecretAnalyzer": {"IST0101": ("gateway-credential-not-found",
                                           "gateway-selector-no-pods")},
    "envoyfilter.EnvoyPatchAnalyzer": {"IST0151": "envoyfilter-relative-no-priority",
                                       "IST0152": "envoyfilter-replace-ignored",
                                       "IST0153": "envoyfilter-add-ignored",
                                       "IST0154": "envoyfilter-remove-ignored",
                                       "IST0155": "envoyfilter-relative-proxy-version"},
    "deployment.MultiServiceAnalyzer": {"IST0116": "deployment-port-protocols",
                                        "IST0137": "deployment-target-port-conflict"},
    "serviceentry.Analyzer": {"IST0134": "serviceentry-addresses-required"},
    "serviceentry.ConflictingServiceEntryProtocolAnalyzer": {
        "IST0177": "serviceentry-protocol-conflict"},
    "schema.ValidationAnalyzer.VirtualService": {"IST0130": "vs-rule-unreachable",
                                                 "IST0131": "vs-match-ineffective"},
    "telemetry.SelectorAnalyzer": {"IST0101": "telemetry-selector-no-pods",
                                   "IST0159": "telemetry-selector-conflict"},
    "telemetry.DefaultSelectorAnalyzer": {"IST0160": "telemetry-multiple-defaults"},
    "telemetry.ProviderAnalyzer": {"IST0157": "telemetry-access-log-no-provider"},
    "auth.AuthorizationPoliciesAnalyzer": {"IST0127": "authz-no-workloads",
                                           "IST0101": "authz-namespace-not-found"},
    "virtualservice.JWTClaimRouteAnalyzer": {"IST0149": "jwt-claim-route-without-authn"},
    "applicationUID.Analyzer": {"IST0144": "app-uid-1337"},
    "annotations.K8sAnalyzer": {"IST0108": "annotation-unknown", "IST0107": "annotation-misplaced",
                                "IST0125": "annotation-invalid",
                                "IST0135": "annotation-deprecated"},
    "injection.ImageAutoAnalyzer": {"IST0147": "image-auto-not-injected",
                                    "IST0146": "image-auto-no-webhook"},
}
# checker -> (our finding id, the kind of object the checker judges)
KIALI_MAP = {
    "destinationrules.DisabledMeshWideMTLSChecker": ("tls-mode-mismatch", "DestinationRule"),
    "peerauthentications.DisabledMeshWideChecker": ("tls-mode-mismatch", "PeerAuthentication"),
    "peerauthentications.DisabledNamespaceWideChecker": ("tls-mode-mismatch",
                                                         "PeerAuthentication"),
    "virtualservices.SubsetPresenceChecker": ("vs-subset-undefined", "VirtualService"),
}
# input -> (what the peer flags, what we flag): see docs/conformance.md
KNOWN_DIVERGENCES = {
    "kiali/virtualservices/subset-presence-matching-subsets-half-fqdn.yaml": (
        set(), {"VirtualService bookinfo/reviews-vs"}),
    "kiali/virtualservices/subset-presence-matching-subsets-diff-ns-half-fqdn.yaml": (
        set(), {"VirtualService bookinfo/reviews-vs"}),
    "kiali/virtualservices/subset-presence-matching-subsets-diff-ns-fqdn.yaml": (
        set(), {"VirtualService bookinfo/reviews-vs"}),
}


def _unnamespaced(paths: list[Path]) -> set[str]:
    """`Kind name` of the objects whose YAML gives no namespace: Istio's grid names them
    without one."""
    import yaml

    out = set()
    for path in paths:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        for doc in [i for d in docs for i in (d.get("items") or [d])]:
            if isinstance(doc, dict) and not (doc.get("metadata") or {}).get("namespace"):
                out.add(f"{doc.get('kind')} {(doc.get('metadata') or {}).get('name')}")
    return out


def _normalize(resource: str, unnamespaced: set[str]) -> str:
    kind, _, name = resource.partition(" ")
    short = f"{kind} {name.split('/', 1)[-1]}"
    return short if short in unnamespaced else resource


def _audit(paths: list[Path], ids: set[str], mesh_config: Path | None = None) -> list:
    """audit -f as the command runs it: a malformed object is left out (and reported as
    object-malformed), the rest is checked. A mesh config file becomes the `istio`
    ConfigMap, where a cluster keeps it."""
    good, bad = load_checked([str(p) for p in paths])
    if mesh_config is not None:
        good.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "istio", "namespace": "istio-system"},
                     "data": {"mesh": mesh_config.read_text()}})
    state = ClusterState(ManifestSource(good, "default"))
    return run_audit(state, None, sorted(ids), bad)[1]


def istio_cases() -> list:
    cases = json.loads((ISTIO / "expected_cases.json").read_text())["cases"]
    return [pytest.param(c, id=f"istio/{c['inputFiles'][0]}"
                         + (f"+{c['meshConfigFile']}" if c.get("meshConfigFile") else ""))
            for c in cases if c["analyzer"] in ISTIO_MAP]


def kiali_cases() -> list:
    files = json.loads((KIALI / "expected.json").read_text())["files"]
    return [pytest.param(name, spec, id=f"kiali/{name}")
            for name, spec in files.items() if spec["checker"] in KIALI_MAP]


def _compare(key: str, theirs: set[str], ours: set[str]) -> None:
    if key in KNOWN_DIVERGENCES:
        assert (theirs, ours) == KNOWN_DIVERGENCES[key]
    else:
        assert ours == theirs


def istio_verdicts(case: dict) -> tuple[str, set[str], set[str]]:
    """(key, what the analyzer flags, what we flag) for one istioctl analyzer input."""
    mapping = ISTIO_MAP[case["analyzer"]]
    codes = {finding_id: code for code, ids in mapping.items()
             for finding_id in (ids if isinstance(ids, tuple) else (ids,))}
    paths = [ISTIO / f for f in case["inputFiles"]]
    theirs = {f"{m['code']} {m['resource']}" for m in case["expected"] if m["code"] in mapping}
    mesh_config = ISTIO / "meshconfig" / case["meshConfigFile"] if case.get(
        "meshConfigFile") else None
    findings = _audit(paths, set(codes), mesh_config)
    unnamespaced = _unnamespaced(paths)
    ours = {f"{codes[f.id]} {_normalize(f.resource, unnamespaced)}"
            for f in findings if f.id in codes}
    key = f"istio/{case['inputFiles'][0]}" + (
        f"+{case['meshConfigFile']}" if case.get("meshConfigFile") else "")
    return key, theirs, ours


def kiali_verdicts(name: str, spec: dict) -> tuple[str, set[str], set[str]]:
    from kubectl_meshdebug.kube.state import ref

    check, kind = KIALI_MAP[spec["checker"]]
    path = KIALI / name
    objects = [o for o in load_manifests([str(path)]) if o.get("kind") == kind]
    theirs = {ref(objects[0])} if spec["validations"] else set()
    ours = {f.resource for f in _audit([path], {check}) if f.id == check
            and f.resource.startswith(kind + " ")}
    return f"kiali/{name}", theirs, ours


@pytest.mark.parametrize("case", istio_cases())
def test_istio_analyzer_inputs(case):
    _compare(*istio_verdicts(case))


@pytest.mark.parametrize("name,spec", kiali_cases())
def test_kiali_checker_inputs(name, spec):
    _compare(*kiali_verdicts(name, spec))


# --- Kiali's own checker inputs, and its Go tests' scenarios ----------------------------------
KIALI_UPSTREAM = KIALI.parent / "upstream"
KIALI_CHECKERS = KIALI.parent / "checkers" / "cases.yaml"
# case -> (what Kiali flags, what we flag): see docs/conformance.md. Kiali asks for a
# PeerAuthentication enabling mTLS even where Istio's default (PERMISSIVE) accepts it.
KIALI_CASE_DIVERGENCES = {
    "kiali-upstream/authorization/mtls_enabled_checker_6.yaml+enableAutoMtls: false": (
        {"KIA0105 AuthorizationPolicy bookinfo/policy"}, set()),
    "kiali-upstream/authorization/mtls_enabled_checker_12.yaml+enableAutoMtls: false": (
        {"KIA0105 AuthorizationPolicy bookinfo/policy"}, set()),
}


def _kiali_codes() -> dict[str, set[str]]:
    """Kiali code -> our finding ids whose titles carry it."""
    from kubectl_meshdebug.checks.registry import catalogue

    out: dict[str, set[str]] = {}
    for ftype in catalogue().values():
        for code in ftype.peer_codes:
            out.setdefault(code, set()).add(ftype.id)
    return out


def _run_kiali_case(key: str, objects: list, case: dict) -> tuple[str, set[str], set[str]]:
    codes = _kiali_codes()
    ids = {i for code in case["codes"] for i in codes[code]}
    objects = [dict(o, metadata=dict(o.get("metadata") or {},
                                     namespace=(o.get("metadata") or {}).get("namespace")
                                     or "bookinfo"))
               if o.get("kind") != "Namespace" else o for o in objects]
    if case.get("kialiServices"):
        objects = [o for o in objects if o.get("kind") != "Service"] + [
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "ratings", "namespace": "bookinfo"},
             "spec": {"selector": {"app": "ratings"}, "ports": [{"name": "http", "port": 9080}]}}]
    objects += [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                for n in case.get("namespaces") or []]
    if case.get("mesh"):
        objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "istio", "namespace": "istio-system"},
                        "data": {"mesh": case["mesh"]}})
    state = ClusterState(ManifestSource(objects, "bookinfo"))
    findings = run_audit(state, None, sorted(ids), [])[1]
    theirs = set(case["expect"])
    ours = set()
    for finding in (f for f in findings if f.id in ids):
        # a type standing for several codes (mesh- or namespace-wide, name or appProtocol)
        # matches the one Kiali gives, if it gives one of them for this object
        pairs = [f"{c} {finding.resource}" for c in finding.type.peer_codes
                 if c in case["codes"]]
        ours.add(next((p for p in pairs if p in theirs), pairs[0]))
    return key, theirs, ours


def kiali_upstream_cases() -> list:
    cases = json.loads((KIALI_UPSTREAM / "expected.json").read_text())["cases"]
    return [pytest.param(c, id=f"kiali-upstream/{c['file']}+{c.get('mesh') or ''}")
            for c in cases]


def kiali_upstream_verdicts(case: dict) -> tuple[str, set[str], set[str]]:
    key = f"kiali-upstream/{case['file']}" + (f"+{case['mesh']}" if case.get("mesh") else "")
    good, _ = load_checked([str(KIALI_UPSTREAM / case["file"])])
    return _run_kiali_case(key, good, case)


def kiali_checker_cases() -> list:
    import yaml

    cases = yaml.safe_load(KIALI_CHECKERS.read_text())["cases"]
    return [pytest.param(c, id=f"kiali-checkers/{c['name']}") for c in cases]


def kiali_checker_verdicts(case: dict) -> tuple[str, set[str], set[str]]:
    return _run_kiali_case(f"kiali-checkers/{case['name']}", list(case["objects"]), case)


def _compare_kiali(key: str, theirs: set[str], ours: set[str]) -> None:
    if key in KIALI_CASE_DIVERGENCES:
        assert (theirs, ours) == KIALI_CASE_DIVERGENCES[key]
    else:
        assert ours == theirs


@pytest.mark.parametrize("case", kiali_upstream_cases())
def test_kiali_upstream_inputs(case):
    _compare_kiali(*kiali_upstream_verdicts(case))


@pytest.mark.parametrize("case", kiali_checker_cases())
def test_kiali_checker_scenarios(case):
    _compare_kiali(*kiali_checker_verdicts(case))


def test_agreement_rate_is_reported(capsys):
    """Runs every peer input again, counts where we agree, and prints the figure quoted in
    docs/conformance.md; the inputs where we differ must be exactly the documented ones."""
    verdicts = [istio_verdicts(p.values[0]) for p in istio_cases()]
    verdicts += [kiali_verdicts(*p.values) for p in kiali_cases()]
    verdicts += [injection_verdicts(p.values[0]) for p in injection_cases()]
    verdicts += [kiali_upstream_verdicts(p.values[0]) for p in kiali_upstream_cases()]
    verdicts += [kiali_checker_verdicts(p.values[0]) for p in kiali_checker_cases()]
    differ = {key for key, theirs, ours in verdicts if theirs != ours}
    assert differ == set(KNOWN_DIVERGENCES) | set(KIALI_CASE_DIVERGENCES)
    agree = len(verdicts) - len(differ)
    with capsys.disabled():
        print(f"\nconformance: {agree}/{len(verdicts)} peer inputs agree "
              f"({100 * agree / len(verdicts):.0f}%), {len(differ)} documented divergences")
    assert agree / len(verdicts) > 0.9


def test_kiali_codes_covered():
    """The Kiali codes docs/conformance.md counts as covered are the ones some finding
    type carries, and each is exercised by a Kiali input above."""
    import yaml

    carried = {code for code in _kiali_codes() if code.startswith("KIA")}
    exercised = {code for c in json.loads((KIALI_UPSTREAM / "expected.json").read_text())[
        "cases"] for code in c["codes"]}
    exercised |= {code for c in yaml.safe_load(KIALI_CHECKERS.read_text())["cases"]
                  for code in c["codes"]}
    exercised |= {"KIA0208", "KIA0505", "KIA0506", "KIA1107"}  # the shared fixtures' checkers
    assert carried <= exercised, sorted(carried - exercised)
    assert len(carried) >= 30


# --- check-inject against injection.Analyzer -----------------------------------------------

INJECTION = {"IST0102": "namespace not injected", "IST0103": "pod missing its proxy",
             "IST0123": "several injection labels", "IST0148": "injected by default"}


def injection_cases() -> list:
    cases = json.loads((ISTIO / "expected_cases.json").read_text())["cases"]
    return [pytest.param(c, id=f"istio/{c['test']}") for c in cases
            if c["analyzer"] == "injection.Analyzer"]


def _check_inject(paths: list[Path], target: str, namespace: str) -> dict:
    from tests.helpers import run

    args = ["check-inject", target, "-n", namespace, "-o", "json"]
    for path in paths:
        args += ["-f", str(path)]
    result = run(*args)
    assert result.code in (0, 1), result.err
    return result.json()["reports"][0]


@pytest.mark.parametrize("case", injection_cases())
def test_injection_analyzer_inputs(case):
    _compare(*injection_verdicts(case))


def injection_verdicts(case: dict) -> tuple[str, set[tuple[str, str]], set[tuple[str, str]]]:
    paths = [ISTIO / f for f in case["inputFiles"]]
    objects = load_manifests([str(p) for p in paths])
    theirs = {(m["code"], m["resource"]) for m in case["expected"] if m["code"] in INJECTION}
    ours = set()
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj["kind"] == "Namespace":
            report = _check_inject(paths, f"ns/{meta['name']}", meta["name"])
            steps = " ".join(s["detail"] for s in report["steps"])
            if "is not labelled for injection" in report["reason"]:
                ours.add(("IST0102", f"Namespace {meta['name']}"))
            if "(IST0123)" in steps:
                ours.add(("IST0123", f"Namespace {meta['name']}"))
            if "(IST0148)" in steps:
                ours.add(("IST0148", f"Namespace {meta['name']}"))
        elif obj["kind"] == "Pod":
            ns = meta.get("namespace", "default")
            report = _check_inject(paths, meta["name"], ns)
            if report["problem"] and report["has_sidecar"] is False:
                ours.add(("IST0103", f"Pod {ns}/{meta['name']}"))
    return f"istio/{case['test']}", theirs, ours
