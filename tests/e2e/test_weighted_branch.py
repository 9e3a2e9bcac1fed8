"""path on a weighted route: each branch holds its own facts. A v2 branch with no pods
must not show the answers of v1's pods (an issue found '5 answered' there)."""

from __future__ import annotations

import pytest

from kubectl_meshdebug.lab.scenarios import SCENARIOS
from tests.helpers import run

pytestmark = pytest.mark.e2e


def test_the_empty_branch_borrows_nothing_from_the_other():
    scenario = SCENARIOS["weighted-branch-no-pods"]
    mesh = scenario.build()
    with mesh:
        mesh.write_manifests()
        outcomes = scenario.run_traffic(mesh)
        assert {o.status for o in outcomes} == {200, 503}
        doc = run("path", *scenario.why503_args(mesh)[1:], "-o", "json").json()
    v1, v2 = doc["branches"]
    assert v1["cluster"].startswith("outbound|8000|v1|") and v1["weight"] == 50
    app_v1 = {h["hop"]: h for h in v1["hops"]}["app"]
    app_v2 = {h["hop"]: h for h in v2["hops"]}["app"]
    assert app_v1["mark"] == "ok" and app_v1["facts"]["inbound_counters"]["rq_success"] > 0
    assert app_v2["mark"] != "ok" and app_v2["facts"]["inbound_counters"] is None
    assert doc["broken"]["finding"] == "subset-no-pods"
