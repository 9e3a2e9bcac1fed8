"""What a server sidecar accepts on a port, read from its inbound listener as istiod builds it.

istiod renders `virtualInbound` (0.0.0.0:15006, where iptables sends inbound traffic) with
one or two chains per service port, matched on `destination_port` and on the transport
protocol the tls_inspector saw: STRICT keeps only the mTLS (`tls`) chain, PERMISSIVE adds
a `raw_buffer` (plaintext) chain, DISABLE keeps only plaintext. Chains without a
`destination_port` are the catch-alls for ports no Service declares
(`virtualInbound-catchall-http`, `virtualInbound`), and `virtualInbound-blackhole`
(destination port 15006) only stops loops; none of them says anything about a port that
has chains of its own. Older sidecars (Istio 1.3/1.4) have per-port listeners or chains
without transport matches: plaintext, unless a TLS context asks for certificates.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_meshdebug.envoy.config_dump import FilterChainInfo, ListenerRecord

INBOUND_CAPTURE_PORT = 15006
_OUTBOUND_NAMES = ("virtualOutbound",)


@dataclass
class InboundChain:
    listener: str
    chain: FilterChainInfo
    accepts: str  # mtls | tls | plaintext | tls-passthrough

    @property
    def port(self) -> int | None:
        port = self.chain.match.get("destination_port")
        return port if isinstance(port, int) else None


def _accepts(chain: FilterChainInfo) -> str:
    protocol = chain.match.get("transport_protocol")
    if protocol == "raw_buffer":
        return "plaintext"
    if chain.tls_required:
        return "mtls" if chain.tls_client_cert_required else "tls"
    if protocol == "tls":
        return "tls-passthrough"
    return "plaintext"


def _is_blackhole(chain: FilterChainInfo) -> bool:
    return "blackhole" in chain.name.lower() or \
        chain.match.get("destination_port") == INBOUND_CAPTURE_PORT


def _inbound_listeners(listeners: list[ListenerRecord]) -> list[ListenerRecord]:
    out = []
    for listener in listeners:
        if listener.name in _OUTBOUND_NAMES or listener.direction == "OUTBOUND":
            continue
        if listener.direction == "INBOUND" or listener.name == "virtualInbound" or \
                listener.port == INBOUND_CAPTURE_PORT:
            out.append(listener)
    return out


def chains_for_port(listeners: list[ListenerRecord], port: int | None) -> list[InboundChain]:
    """The inbound chains a connection to `port` (the Service's targetPort) can take."""
    own: list[InboundChain] = []
    catch_all: list[InboundChain] = []
    for listener in _inbound_listeners(listeners):
        for chain in listener.chains:
            if _is_blackhole(chain):
                continue
            entry = InboundChain(listener.name, chain, _accepts(chain))
            chain_port = entry.port
            if chain_port is not None and port is not None and chain_port == port:
                own.append(entry)
            elif chain_port is None and listener.port in (port, INBOUND_CAPTURE_PORT, None):
                catch_all.append(entry)
    return own or catch_all


def requirement(chains: list[InboundChain]) -> str | None:
    """mtls (only mTLS accepted), plaintext (only plaintext), both, or None (no chains)."""
    kinds = {c.accepts for c in chains} - {"tls-passthrough"}
    if not kinds:
        return None
    if "plaintext" not in kinds:
        return "mtls" if "mtls" in kinds else "tls"
    if kinds == {"plaintext"}:
        return "plaintext"
    return "both"
