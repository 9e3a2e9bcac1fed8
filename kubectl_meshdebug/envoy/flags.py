"""Envoy's response flags: short code, long name, what it means, the finding that explains it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    code: str
    name: str
    meaning: str
    finding: str  # the check id that usually explains it ("" when none does)


FLAGS = {f.code: f for f in [
    Flag("UH", "NoHealthyUpstream", "no healthy upstream host in the cluster",
         "no-endpoints"),
    Flag("UF", "UpstreamConnectionFailure", "the connection to the upstream failed (refused, "
         "TLS handshake error, timeout)", "upstream-connect-failure"),
    Flag("UO", "UpstreamOverflow", "a circuit breaker overflowed (connections, pending or "
         "active requests)", "circuit-breaker-overflow"),
    Flag("NR", "NoRouteFound", "no route (or no virtual host) matched the request",
         "route-not-found"),
    Flag("URX", "UpstreamRetryLimitExceeded", "retries or connection attempts were exhausted",
         ""),
    Flag("NC", "NoClusterFound", "the route's cluster does not exist", "cluster-not-found"),
    Flag("DT", "DurationTimeout", "the stream exceeded its max duration", ""),
    Flag("DC", "DownstreamConnectionTermination", "the client closed the connection", ""),
    Flag("LH", "FailedLocalHealthCheck", "the local service failed its health check", ""),
    Flag("UT", "UpstreamRequestTimeout", "the upstream did not answer within the route "
         "timeout", ""),
    Flag("LR", "LocalReset", "Envoy reset the stream locally", ""),
    Flag("UR", "UpstreamRemoteReset", "the upstream reset the stream", ""),
    Flag("UC", "UpstreamConnectionTermination", "the upstream closed the connection before "
         "answering (often: plaintext sent to an mTLS-only server)", "tls-mode-mismatch"),
    Flag("DI", "DelayInjected", "a fault-injection delay applied", ""),
    Flag("FI", "FaultInjected", "a fault-injection abort applied", ""),
    Flag("RL", "RateLimited", "rate limited locally", ""),
    Flag("UAEX", "UnauthorizedExternalService", "denied by the external authorization service",
         ""),
    Flag("RLSE", "RateLimitServiceError", "the rate limit service failed", ""),
    Flag("IH", "InvalidEnvoyRequestHeaders", "the request had invalid x-envoy-* headers", ""),
    Flag("SI", "StreamIdleTimeout", "the stream idled past its timeout", ""),
    Flag("DPE", "DownstreamProtocolError", "the client spoke broken HTTP", ""),
    Flag("UPE", "UpstreamProtocolError", "the upstream spoke broken HTTP (an invalid header, "
         "a bad status line)", "upstream-protocol-error"),
    Flag("UMSDR", "UpstreamMaxStreamDurationReached", "the upstream stream hit its max "
         "duration", ""),
    Flag("OM", "OverloadManagerTerminated", "the overload manager shed the request", ""),
    Flag("DF", "DnsResolutionFailed", "DNS resolution of the upstream failed", ""),
    Flag("DO", "DropOverload", "dropped by the load balancer's drop overload", ""),
]}


def split_flags(text: str) -> list[str]:
    """`URX,UF` -> ["URX", "UF"]; `-` -> []."""
    if not text or text == "-":
        return []
    return [f for f in text.replace("|", ",").split(",") if f]

