"""ClusterState: each kind read once, kinds read at the same time, confined users read by
namespace and told what they could not read."""

from __future__ import annotations

import threading

from kubectl_meshdebug.kube.state import ClusterState, Forbidden


class Recorder:
    """A Source that records its calls (and how many run at once) and can refuse some."""

    live = True

    def __init__(self, refused: set[tuple[str, str | None]] = frozenset()) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.refused = refused
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.gate = threading.Barrier(2, timeout=5)

    def list(self, kind: str, namespace: str | None = None) -> list[dict]:
        with self.lock:
            self.calls.append((kind, namespace))
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if (kind, namespace) in self.refused:
                raise Forbidden(f"forbidden: you may not list {kind}")
            if kind in ("Service", "Pod"):
                self.gate.wait()  # both must be inside at once, or this times out
            return [{"kind": kind, "metadata": {"name": f"{kind}-{namespace or 'x'}",
                                                "namespace": namespace or "foo"}}]
        finally:
            with self.lock:
                self.running -= 1


def test_prefetch_reads_kinds_at_the_same_time():
    source = Recorder()
    state = ClusterState(source)
    state.prefetch(["Service", "Pod", "DestinationRule", "ConfigMap"])
    assert source.most >= 2
    state.list("Service")
    state.list("Pod", "foo")
    assert sorted(source.calls) == sorted([("ConfigMap", None), ("DestinationRule", None),
                                           ("Pod", None), ("Service", None)])


def test_refused_cluster_wide_lists_fall_back_to_the_scope():
    source = Recorder(refused={("Service", None), ("ConfigMap", None),
                               ("ConfigMap", "istio-system"), ("Node", None)})
    source.gate = threading.Barrier(1)
    state = ClusterState(source, ["foo"], root="istio-system", root_kinds={"ConfigMap"})
    assert [o["metadata"]["namespace"] for o in state.list("Service")] == ["foo"]
    assert [o["metadata"]["namespace"] for o in state.list("ConfigMap")] == ["foo"]
    assert state.list("Node") == []
    assert state.limits() == ["configmaps in namespace istio-system", "nodes cluster-wide"]
    assert not state.readable("ConfigMap", "istio-system")
    assert state.narrowed() == ["ConfigMap", "Service"]
