"""Fuzzing that starts from real data: Istio's config dumps and /clusters answers, and real
access-log lines, each with one or more values replaced by what a faulty proxy, an old
Envoy or a hand edit can produce (wrong types, huge and non-finite numbers, Unicode
digits that pass str.isdigit() but not int()).

Random JSON rarely reaches the inside of a listener; a mutated real dump does, so these
tests are what notice a parser that stops catching a malformed resource: the rest of the
dump must still be read, and the command must still end with 0 or a one-line 2/3.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_meshdebug.envoy.accesslog import parse_line
from kubectl_meshdebug.envoy.clusters_status import parse_clusters_json
from kubectl_meshdebug.envoy.config_dump import ConfigDump
from tests.helpers import DATA, run

DUMPS = sorted((DATA / "istio" / "config_dump").rglob("*.json"))
CLUSTERS_JSON = DATA / "istio" / "clusters" / "json" / "clusters-envoy1.8-camelcase.json"
WRONG: list[Any] = [None, "x", 7, -1, 10 ** 30, 1.5, float("nan"), float("inf"), True, [],
                    ["a"], {}, {"a": [1]}, "²", "１２３", "1e999", "٣"]
UNICODE_DIGITS = ["²", "１２３", "٣", "߃", "⁵"]
MUTATE = settings(max_examples=80, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow,
                                         HealthCheck.function_scoped_fixture])


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside `value` (iteratively: real dumps are deep)."""
    out: list[tuple] = []
    stack = [(value, prefix)]
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) \
            if isinstance(node, list) else ()
        for key, inner in items:
            out.append(path + (key,))
            if isinstance(inner, (dict, list)):
                stack.append((inner, path + (key,)))
    return out


def _set(doc: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _mutated(doc: Any, rng: random.Random, count: int, under: tuple = ()) -> Any:
    # below a resource of the section (section -> list -> resource -> field), never the
    # section or the list itself
    depth = len(under) + 3 if under else 1
    paths = [p for p in _paths(doc) if p[:len(under)] == under and len(p) >= depth
             and "@type" not in p]
    chosen = rng.sample(paths, min(count, len(paths)))
    for path in sorted(chosen, key=len, reverse=True):  # children before their parents
        _set(doc, path, rng.choice(WRONG))
    return doc


# --- config dumps ---------------------------------------------------------------------------

def _counts(dump: ConfigDump) -> dict[str, int]:
    return {"clusters": len(dump.clusters()), "listeners": len(dump.listeners()),
            "routes": len(dump.routes()), "endpoints": len(dump.endpoints())}


@MUTATE
@given(dump_path=st.sampled_from(DUMPS), seed=st.integers(0, 10 ** 6), count=st.integers(1, 4))
def test_mutated_real_dump_keeps_the_rest(dump_path, seed, count):
    """Values changed inside one section: every other section reads as before, and the
    mutated one loses at most the resources that were changed."""
    doc = json.loads(dump_path.read_text())
    whole = _counts(ConfigDump.from_json(json.loads(dump_path.read_text())))
    rng = random.Random(seed)
    configs = doc.get("configs")
    if not isinstance(configs, list) or not configs:
        return
    section = rng.randrange(len(configs))
    kind = str(configs[section].get("@type", ""))
    _mutated(doc, rng, count, ("configs", section))
    dump = ConfigDump.from_json(doc)
    after = _counts(dump)
    owner = next((k for k in ("clusters", "listeners", "routes", "endpoints")
                  if k[:-1].lower() in kind.lower()), "")
    for part, n in whole.items():
        if part == owner:
            assert after[part] >= n - count if part in ("clusters", "listeners") else True
        elif not (part == "routes" and owner == "listeners"):  # inline routes live there
            assert after[part] == n, (part, owner)


@MUTATE
@given(dump_path=st.sampled_from(DUMPS), seed=st.integers(0, 10 ** 6),
       command=st.sampled_from(["clusters", "routes", "listeners", "endpoints", "config-dump"]))
def test_mutated_real_dump_through_the_cli(tmp_path, dump_path, seed, command):
    doc = _mutated(json.loads(dump_path.read_text()), random.Random(seed), 3)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))  # NaN and Infinity written as Python's json does
    result = run(command, "--dump", path)
    assert result.code in (0, 2), (result.code, result.err)
    assert "internal error" not in result.err and "Traceback" not in result.err


def test_one_malformed_cluster_among_good_ones_is_skipped_and_said():
    path = DATA / "istio" / "config_dump" / "sidecar" / "productpage-v1-automtls-istio1.4.json"
    doc = json.loads(path.read_text())
    whole = len(ConfigDump.from_json(json.loads(path.read_text())).clusters())
    section = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    section["dynamic_active_clusters"][0]["cluster"]["name"] = {"not": "a name"}
    dump = ConfigDump.from_json(doc)
    assert len(dump.clusters()) == whole - 1 and dump.skipped == 1


def test_malformed_cluster_through_the_cli_names_the_skip(tmp_path):
    path = DATA / "istio" / "config_dump" / "sidecar" / "productpage-v1-automtls-istio1.4.json"
    doc = json.loads(path.read_text())
    section = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    section["dynamic_active_clusters"][0]["cluster"]["circuit_breakers"] = {
        "thresholds": [{"max_connections": "²"}]}
    section["dynamic_active_clusters"][1]["cluster"]["name"] = ["x"]
    out = tmp_path / "dump.json"
    out.write_text(json.dumps(doc))
    result = run("clusters", "--dump", out)
    assert result.code == 0, result.err
    assert "malformed resources in the dump were skipped" in result.err
    assert "reviews.default.svc.cluster.local" in result.out


# --- /clusters?format=json ------------------------------------------------------------------

@MUTATE
@given(seed=st.integers(0, 10 ** 6), count=st.integers(1, 3))
def test_mutated_clusters_json_keeps_the_other_clusters(seed, count):
    doc = json.loads(CLUSTERS_JSON.read_text())
    whole = len(parse_clusters_json(json.loads(CLUSTERS_JSON.read_text())))
    rng = random.Random(seed)
    key = "clusterStatuses" if "clusterStatuses" in doc else "cluster_statuses"
    victim = rng.randrange(len(doc[key]))
    _mutated(doc, rng, count, (key, victim))
    statuses = parse_clusters_json(doc)
    assert len(statuses) >= whole - 1  # only the mutated entry may go


def test_a_cluster_entry_with_a_wrong_type_is_skipped():
    doc = json.loads(CLUSTERS_JSON.read_text())
    key = "clusterStatuses" if "clusterStatuses" in doc else "cluster_statuses"
    whole = len(doc[key])
    doc[key][0]["hostStatuses"] = [{"address": 5, "stats": "many", "healthStatus": []}]
    doc[key].append(["not", "an", "object"])
    assert len(parse_clusters_json(doc)) == whole


# --- access logs ----------------------------------------------------------------------------

def _lab_lines() -> list[str]:
    from tests.unit.test_accesslog import CURRENT, INBOUND_2023, OLD_2018, UF_TLS

    return [CURRENT, OLD_2018, INBOUND_2023, UF_TLS]


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_unicode_digits_in_every_field(digit):
    """Each space-separated field of real lines in turn: status, bytes, durations, ..."""
    for line in _lab_lines():
        tokens = line.split(" ")
        for k in range(len(tokens)):
            entry = parse_line(" ".join(tokens[:k] + [digit] + tokens[k + 1:]))
            if entry is not None:
                assert isinstance(entry.status, int)
                assert entry.duration_ms is None or isinstance(entry.duration_ms, int)


@pytest.mark.parametrize("value", [*UNICODE_DIGITS, float("nan"), float("inf"), 10 ** 30,
                                   "1e999", True, None, [], {}])
@pytest.mark.parametrize("field", ["response_code", "duration", "bytes_sent",
                                   "bytes_received", "upstream_service_time"])
def test_json_access_log_with_odd_numbers(value, field):
    doc = {"start_time": "2026-11-22T02:35:39.456Z", "method": "GET", "path": "/",
           "protocol": "HTTP/1.1", "response_code": 503, "response_flags": "UC",
           "upstream_cluster": "outbound|8000||httpbin.foo.svc.cluster.local",
           "duration": 3, "bytes_sent": 95, "bytes_received": 0}
    doc[field] = value
    entry = parse_line(json.dumps(doc))
    if entry is not None:
        assert isinstance(entry.status, int)


@MUTATE
@given(seed=st.integers(0, 10 ** 6), swaps=st.integers(1, 5))
def test_mutated_real_lines(seed, swaps):
    rng = random.Random(seed)
    for line in _lab_lines():
        tokens = line.split(" ")
        for _ in range(swaps):
            tokens[rng.randrange(len(tokens))] = str(rng.choice(WRONG))
        entry = parse_line(" ".join(tokens))
        if entry is not None:
            assert isinstance(entry.status, int)


def test_the_story_logs_parse(tmp_path):
    """The field reports' real log excerpts, through `logs --explain`."""
    stories = Path(__file__).resolve().parents[3] / "shared" / "stories"
    if not stories.is_dir():
        pytest.skip("no ../shared/stories on this machine")
    for story in sorted(stories.glob("*.txt")):
        result = run("logs", "--log-file", story, "--explain")
        assert result.code == 0, (story.name, result.err)


def test_inline_route_match_of_the_wrong_type(tmp_path):
    """Found by the fuzzer in CI (seed 8025): an inline route whose `match` is `true`
    crashed `listeners`; the chain is listed, its inline route not named."""
    doc = json.loads((DATA / "istio" / "config_dump" / "sidecar" /
                      "ratings-v1-bookinfo-istio1.2.json").read_text())
    changed = 0
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "route_config" in node and isinstance(node["route_config"], dict):
                for vhost in node["route_config"].get("virtual_hosts") or []:
                    for route in vhost.get("routes") or []:
                        route["match"] = True
                        changed += 1
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(node)
    assert changed
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    for args in (["listeners"], ["listeners", "-o", "json"], ["routes", "--inline"]):
        result = run(*args, "--dump", path)
        assert result.code == 0, (args, result.err)
