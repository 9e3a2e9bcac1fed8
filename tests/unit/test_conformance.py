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
from kubectl_meshdebug.kube.manifests import load_manifests
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


def _normalize(resource: str, explicit_ns: bool) -> str:
    """Istio's grid names objects without a namespace when the YAML gave none."""
    kind, _, name = resource.partition(" ")
    return resource if explicit_ns or "/" not in name else f"{kind} {name.split('/', 1)[1]}"


def _audit(paths: list[Path], ids: set[str]) -> list:
    state = ClusterState(ManifestSource(load_manifests([str(p) for p in paths]), "default"))
    return run_audit(state, None, sorted(ids))[1]


def istio_cases() -> list:
    cases = json.loads((ISTIO / "expected_cases.json").read_text())["cases"]
    return [pytest.param(c, id=f"istio/{c['inputFiles'][0]}") for c in cases
            if c["analyzer"] in ISTIO_MAP]


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
    paths = [ISTIO / f for f in case["inputFiles"]]
    explicit = "namespace:" in paths[0].read_text()
    theirs = {m["resource"] for m in case["expected"] if m["code"] in mapping}
    findings = _audit(paths, set(mapping.values()))
    ours = {_normalize(f.resource, explicit or "/" in next(iter(theirs), "/"))
            for f in findings if f.id in mapping.values()}
    return f"istio/{case['inputFiles'][0]}", theirs, ours


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


def test_agreement_rate_is_reported(capsys):
    """Runs every peer input again, counts where we agree, and prints the figure quoted in
    docs/conformance.md; the inputs where we differ must be exactly the documented ones."""
    verdicts = [istio_verdicts(p.values[0]) for p in istio_cases()]
    verdicts += [kiali_verdicts(*p.values) for p in kiali_cases()]
    verdicts += [injection_verdicts(p.values[0]) for p in injection_cases()]
    differ = {key for key, theirs, ours in verdicts if theirs != ours}
    assert differ == set(KNOWN_DIVERGENCES)
    agree = len(verdicts) - len(differ)
    with capsys.disabled():
        print(f"\nconformance: {agree}/{len(verdicts)} peer inputs agree "
              f"({100 * agree / len(verdicts):.0f}%), {len(differ)} documented divergences")
    assert agree / len(verdicts) > 0.9


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
