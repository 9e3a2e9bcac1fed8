"""What real istiod sent each sidecar of a lab scenario, as recorded on the real mesh.

`python -m tests.cluster record` loads every scenario on the test cluster (istiod,
pilot-agent, iptables; see tests/cluster/istiomesh.py), asks istiod for each proxy's
configuration (`/debug/config_dump?proxyID=...&include_eds`, the resources it pushes) and
the proxy's own bootstrap (node and stats config, written by pilot-agent), and stores
them here, one gzipped JSON file per scenario. The offline lab replays them
(lab/replay.py); a cluster test renders them afresh and fails on drift (`comparable`).

Addresses are recorded as the real mesh had them, with a table saying what each one was
(`pod NS/NAME`, `service NS/NAME`, `istiod`, `external`), so the replay can move them
onto loopback and the drift test can compare runs whose addresses differ.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent / "recordings"
FORMAT = 1


@dataclass
class RecordedProxy:
    pod: str  # NS/NAME
    node: dict[str, Any]
    stats_config: dict[str, Any]
    clusters: list[dict[str, Any]]
    listeners: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]

    @property
    def namespace(self) -> str:
        return self.pod.split("/")[0]

    @property
    def name(self) -> str:
        return self.pod.split("/")[1]

    def to_json(self) -> dict[str, Any]:
        return {"pod": self.pod, "node": self.node, "stats_config": self.stats_config,
                "clusters": self.clusters, "listeners": self.listeners,
                "routes": self.routes, "endpoints": self.endpoints}


@dataclass
class Recording:
    name: str
    istio: str
    addresses: dict[str, str]  # address on the real mesh -> what it was
    proxies: list[RecordedProxy]

    def proxy(self, namespace: str, name: str) -> RecordedProxy | None:
        return next((p for p in self.proxies if p.pod == f"{namespace}/{name}"), None)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "name": self.name, "istio": self.istio,
                "addresses": dict(sorted(self.addresses.items())),
                "proxies": [p.to_json() for p in self.proxies]}


def path_for(name: str) -> Path:
    return FOLDER / f"{name}.json.gz"


def exists(name: str) -> bool:
    return path_for(name).is_file()


def load(name: str) -> Recording:
    """The recording of one lab mesh (a scenario's name, or another named lab mesh)."""
    path = path_for(name)
    if not path.is_file():
        raise FileNotFoundError(f"no recording of {name!r} at {path}: run "
                                "`python -m tests.cluster record` as root")
    doc = json.loads(gzip.decompress(path.read_bytes()))
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: recording format {doc.get('format')!r}, expected {FORMAT}")
    return Recording(doc["name"], doc["istio"], doc["addresses"],
                     [RecordedProxy(**p) for p in doc["proxies"]])


def save(recording: Recording, folder: Path = FOLDER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{recording.name}.json.gz"
    text = json.dumps(recording.to_json(), sort_keys=True, separators=(",", ":"))
    path.write_bytes(gzip.compress(text.encode(), mtime=0))  # no timestamp: same bytes
    return path


def from_istiod_dump(dump: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The resources of istiod's /debug/config_dump, without its versions and times."""
    out: dict[str, list[dict[str, Any]]] = {"clusters": [], "listeners": [], "routes": [],
                                             "endpoints": []}
    for section in dump.get("configs") or []:
        kind = str(section.get("@type", "")).rsplit(".", 1)[-1]
        if kind == "ClustersConfigDump":
            out["clusters"] = [c["cluster"] for c in section.get("dynamicActiveClusters") or []]
        elif kind == "ListenersConfigDump":
            out["listeners"] = [(lis.get("activeState") or {}).get("listener")
                                for lis in section.get("dynamicListeners") or []]
        elif kind == "RoutesConfigDump":
            out["routes"] = [r["routeConfig"] for r in section.get("dynamicRouteConfigs") or []]
        elif kind == "EndpointsConfigDump":
            out["endpoints"] = [e["endpointConfig"]
                                for e in section.get("dynamicEndpointConfigs") or []]
    out["listeners"] = [lis for lis in out["listeners"] if lis]
    return out


def _address_re(addresses: list[str]) -> re.Pattern[str] | None:
    if not addresses:
        return None
    alternatives = "|".join(re.escape(a) for a in sorted(addresses, key=len, reverse=True))
    return re.compile(rf"(?<![\d.])(?:{alternatives})(?![\d])")


def map_addresses(doc: Any, mapping: dict[str, str]) -> Any:
    """DOC with every recorded address replaced as MAPPING says, wherever it appears in a
    string (an endpoint, a listener's name `10.96.0.1_443`, a domain `10.96.0.1:8000`)."""
    pattern = _address_re(list(mapping))
    if pattern is None:
        return doc
    text = json.dumps(doc)
    return json.loads(pattern.sub(lambda m: mapping[m.group(0)], text))


def comparable(recording: Recording) -> dict[str, Any]:
    """The recording as the drift test compares it: addresses by what they were, keys in
    one order; what changes from run to run (versions, times, certificates) is not kept
    in a recording at all."""
    roles = {address: f"<{role}>" for address, role in recording.addresses.items()}
    doc = map_addresses([p.to_json() for p in recording.proxies], roles)
    for proxy in doc:  # istiod pushes them in no particular order
        for kind, key in (("clusters", "name"), ("listeners", "name"), ("routes", "name"),
                          ("endpoints", "clusterName")):
            proxy[kind] = sorted(proxy[kind], key=lambda r, k=key: str(r.get(k)))
    return json.loads(json.dumps(sorted(doc, key=lambda p: p["pod"]), sort_keys=True))
