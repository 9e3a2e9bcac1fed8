"""Envoy's response flags and failure details: short code, long name, what each means in words.

Which finding usually explains a flag is the checks' knowledge (checks/symptoms.py), not
Envoy's: this module knows only Envoy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    code: str
    name: str
    meaning: str


FLAGS = {f.code: f for f in [
    Flag("UH", "NoHealthyUpstream", "no healthy upstream host in the cluster"),
    Flag("UF", "UpstreamConnectionFailure", "the connection to the upstream failed (refused, "
         "TLS handshake error, timeout)"),
    Flag("UO", "UpstreamOverflow", "a circuit breaker overflowed (connections, pending or "
         "active requests)"),
    Flag("NR", "NoRouteFound", "no route (or no virtual host) matched the request"),
    Flag("URX", "UpstreamRetryLimitExceeded", "retries or connection attempts were exhausted"),
    Flag("NC", "NoClusterFound", "the route's cluster does not exist"),
    Flag("DT", "DurationTimeout", "the stream exceeded its max duration"),
    Flag("DC", "DownstreamConnectionTermination", "the client closed the connection"),
    Flag("LH", "FailedLocalHealthCheck", "the local service failed its health check"),
    Flag("UT", "UpstreamRequestTimeout", "the upstream did not answer within the route "
         "timeout"),
    Flag("LR", "LocalReset", "Envoy reset the stream locally"),
    Flag("UR", "UpstreamRemoteReset", "the upstream reset the stream"),
    Flag("UC", "UpstreamConnectionTermination", "the upstream closed the connection before "
         "answering (often: plaintext sent to an mTLS-only server)"),
    Flag("DI", "DelayInjected", "a fault-injection delay applied"),
    Flag("FI", "FaultInjected", "a fault-injection abort applied"),
    Flag("RL", "RateLimited", "rate limited locally"),
    Flag("UAEX", "UnauthorizedExternalService", "denied by the external authorization service"),
    Flag("RLSE", "RateLimitServiceError", "the rate limit service failed"),
    Flag("IH", "InvalidEnvoyRequestHeaders", "the request had invalid x-envoy-* headers"),
    Flag("SI", "StreamIdleTimeout", "the stream idled past its timeout"),
    Flag("DPE", "DownstreamProtocolError", "the client spoke broken HTTP"),
    Flag("UPE", "UpstreamProtocolError", "the upstream spoke broken HTTP (an invalid header, "
         "a bad status line)"),
    Flag("UMSDR", "UpstreamMaxStreamDurationReached", "the upstream stream hit its max "
         "duration"),
    Flag("OM", "OverloadManagerTerminated", "the overload manager shed the request"),
    Flag("DF", "DnsResolutionFailed", "DNS resolution of the upstream failed"),
    Flag("DO", "DropOverload", "dropped by the load balancer's drop overload"),
]}


# %UPSTREAM_TRANSPORT_FAILURE_REASON% and %RESPONSE_CODE_DETAILS% fragments, in words.
# Envoy writes spaces as underscores in details; matching is case-insensitive.
FAILURE_DETAILS: list[tuple[str, str]] = [
    ("Connection_refused", "connection refused: nothing listens on the endpoint"),
    ("HTTP_REQUEST", "the server expected TLS and got plaintext"),
    ("WRONG_VERSION_NUMBER", "TLS was answered with plaintext"),
    ("CERTIFICATE_VERIFY_FAILED", "the server's certificate failed verification (SAN or CA)"),
    ("SSLV3_ALERT_HANDSHAKE_FAILURE", "the server refused the TLS handshake (no client "
                                      "certificate?)"),
    ("TLSV1_ALERT_UNKNOWN_CA", "the server does not trust the client's CA"),
    ("connection_termination", "the upstream closed the connection before answering"),
    ("protocol_error", "the upstream's response broke HTTP"),
    ("overflow", "a circuit breaker overflowed"),
    ("no_healthy_upstream", "the cluster has no healthy endpoint"),
    ("cluster_not_found", "the route's cluster does not exist"),
    ("route_not_found", "no route matched"),
    ("response_timeout", "the upstream did not answer within the route's timeout"),
    ("direct_response", "the route answered by itself (no upstream)"),
    ("via_upstream", "the upstream itself answered"),
]


def failure_meaning(text: str) -> tuple[str, str]:
    """(the fragment found, its meaning) for details or a transport failure reason."""
    low = text.lower()
    for needle, meaning in FAILURE_DETAILS:
        if needle.lower() in low:
            return needle, meaning
    return "", ""


def split_flags(text: str) -> list[str]:
    """`URX,UF` -> ["URX", "UF"]; `-` -> []."""
    if not text or text == "-":
        return []
    return [f for f in text.replace("|", ",").split(",") if f]

