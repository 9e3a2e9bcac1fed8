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
    "service.PortNameAnalyzer": {"IST0118": "port-name-unrecognized"},
    "virtualservice.DestinationHostAnalyzer": {"IST0101": "vs-host-not-found",
                                               "IST0112": "vs-port-required"},
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
    return [pytest.param(c, id=f"istio/{c['inputFiles'][0]}") for c in cases]


def kiali_cases() -> list:
    files = json.loads((KIALI / "expected.json").read_text())["files"]
    return [pytest.param(name, spec, id=f"kiali/{name}")
            for name, spec in files.items() if spec["checker"] in KIALI_MAP]


def _compare(key: str, theirs: set[str], ours: set[str]) -> None:
    if key in KNOWN_DIVERGENCES:
        assert (theirs, ours) == KNOWN_DIVERGENCES[key]
    else:
        assert ours == theirs


@pytest.mark.parametrize("case", istio_cases())
def test_istio_analyzer_inputs(case):
    mapping = ISTIO_MAP[case["analyzer"]]
    paths = [ISTIO / f for f in case["inputFiles"]]
    explicit = "namespace:" in paths[0].read_text()
    theirs = {m["resource"] for m in case["expected"] if m["code"] in mapping}
    findings = _audit(paths, set(mapping.values()))
    ours = {_normalize(f.resource, explicit or "/" in next(iter(theirs), "/"))
            for f in findings if f.id in mapping.values()}
    _compare(f"istio/{case['inputFiles'][0]}", theirs, ours)


@pytest.mark.parametrize("name,spec", kiali_cases())
def test_kiali_checker_inputs(name, spec):
    check, kind = KIALI_MAP[spec["checker"]]
    path = KIALI / name
    from kubectl_meshdebug.kube.state import ref

    objects = [o for o in load_manifests([str(path)]) if o.get("kind") == kind]
    theirs = {ref(objects[0])} if spec["validations"] else set()
    ours = {f.resource for f in _audit([path], {check}) if f.id == check
            and f.resource.startswith(kind + " ")}
    _compare(f"kiali/{name}", theirs, ours)


def test_agreement_rate_is_reported(capsys):
    """Prints the agreement figure quoted in docs/conformance.md."""
    total = len(istio_cases()) + len(kiali_cases())
    agree = total - len(KNOWN_DIVERGENCES)
    with capsys.disabled():
        print(f"\nconformance: {agree}/{total} peer inputs agree "
              f"({100 * agree / total:.0f}%), {len(KNOWN_DIVERGENCES)} documented divergences")
    assert agree / total > 0.9
