"""A saved dump's sections found without parsing: the same answers as the full parse,
whatever the file's formatting, and the full parse whenever the layout is in doubt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubectl_meshdebug.envoy.config_dump import SECTION_KINDS, ConfigDump, load_sections
from kubectl_meshdebug.envoy.dump_layout import section_spans
from tests.helpers import DATA

ROOT = Path(__file__).resolve().parents[2]
DUMPS = sorted((DATA / "istio" / "config_dump" / "sidecar").glob("*.json")) + \
    sorted((DATA / "istio" / "config_dump" / "gateway").glob("*.json"))
FORMATS = {
    "envoy": lambda doc: json.dumps(doc, indent=1),  # the admin API's own layout
    "minified": lambda doc: json.dumps(doc, separators=(",", ":")),
    "spaced": lambda doc: json.dumps(doc, indent="\t", separators=(" ,\n", " : ")),
}
# as the commands ask
PARTS = [{"clusters"}, {"clusters", "endpoints"}, {"listeners"}, {"routes", "listeners"}, {"endpoints"}]


def _seen(dump: ConfigDump, parts: set[str]) -> dict[str, Any]:
    """What a command reads from the parts it asked for."""
    seen: dict[str, Any] = {}
    if "clusters" in parts:
        seen["clusters"] = [(c.name, c.state, c.tls.mode, c.raw) for c in dump.clusters()]
    if "endpoints" in parts:
        seen["endpoints"] = [(e.cluster, e.address, e.health) for e in dump.endpoints()]
    if "listeners" in parts:
        seen["listeners"] = [(li.name, li.port, li.raw) for li in dump.listeners()]
    if "routes" in parts:
        seen["routes"] = [(r.route_config, r.virtual_host, r.raw) for r in dump.routes()]
    return seen


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", FORMATS)
def test_sections_read_as_the_full_parse_reads_them(path: Path, fmt: str) -> None:
    doc = json.loads(path.read_text())
    raw = FORMATS[fmt](doc).encode()
    spans = section_spans(raw, SECTION_KINDS)
    assert spans is not None, "a dump in this layout must take the fast path"
    assert [t for t, _, _ in spans] == [c["@type"].rsplit(".", 1)[-1] for c in doc["configs"]]
    full = ConfigDump.from_json(doc)
    for parts in PARTS:
        assert _seen(load_sections(raw, parts), parts) == _seen(full, parts)


def _envoy(doc: Any) -> bytes:
    return json.dumps(doc, indent=1).encode()


def _small_dump() -> dict[str, Any]:
    return json.loads(DUMPS[0].read_text())


def test_a_dump_cut_short_takes_the_full_parse() -> None:
    raw = _envoy(_small_dump())
    assert section_spans(raw[:-10], SECTION_KINDS) is None
    with pytest.raises(ValueError):
        load_sections(raw[: len(raw) // 2], {"clusters"})


def test_the_type_url_inside_a_string_takes_the_full_parse() -> None:
    doc = _small_dump()
    doc["configs"][0]["note"] = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"
    assert section_spans(_envoy(doc), SECTION_KINDS) is None


def test_a_section_nested_in_another_is_not_taken_for_a_real_one() -> None:
    """A listener's metadata holding something shaped like a clusters section: whatever
    the split finds, the answer is the full parse's."""
    doc = _small_dump()
    listeners = next(c for c in doc["configs"] if "Listeners" in c["@type"])
    fake = {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
            "static_clusters": [{"cluster": {"name": "forged", "type": "STATIC"}}]}
    listeners["dynamic_listeners"][0]["forged"] = [{"a": 1}, fake]
    raw = _envoy(doc)
    for parts in PARTS:
        assert _seen(load_sections(raw, parts), parts) == \
            _seen(ConfigDump.from_json(doc), parts)
    names = [c.name for c in load_sections(raw, {"clusters"}).clusters()]
    assert "forged" not in names
    # the same fake in a dump with no clusters section of its own
    doc["configs"] = [c for c in doc["configs"] if "Clusters" not in c["@type"]]
    raw = _envoy(doc)
    assert [c.name for c in load_sections(raw, {"clusters"}).clusters()] == []
    # ... followed directly by a made-up section, so that the fake alone parses whole
    listeners["dynamic_listeners"][0]["forged"] = [
        {"a": 1}, fake, {"@type": "type.googleapis.com/envoy.admin.v3.MadeUpConfigDump"}]
    assert [c.name for c in load_sections(_envoy(doc), {"clusters"}).clusters()] == []


def test_other_top_level_keys_take_the_full_parse() -> None:
    doc = {"configs": _small_dump()["configs"], "extra": 1}
    assert section_spans(_envoy(doc), SECTION_KINDS) is None
