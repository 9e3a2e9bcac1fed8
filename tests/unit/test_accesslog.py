"""Access-log formats: Istio's TEXT format (the current layout and the older ones the
field reports show) and Istio's JSON encoding."""

from __future__ import annotations

import json

from kubectl_meshdebug.checks.symptoms import explain as explain_entry
from kubectl_meshdebug.envoy.accesslog import parse_line

CURRENT = ('[2026-11-22T02:35:39.456Z] "GET /get HTTP/1.1" 503 UC upstream_reset_before_'
           'response_started{connection_termination} - "-" 0 95 0 - "-" "curl/8.5.0" '
           '"0488f907" "httpbin.foo:8000" "10.1.0.3:8080" outbound|8000||httpbin.foo.svc.'
           'cluster.local 10.1.0.2:54178 10.96.0.10:8000 10.1.0.2:47156 - default')
OLD_2018 = ('[2018-08-28T13:06:56.454Z] "GET /get HTTP/1.1" 503 UC 0 57 0 - "-" "curl/7.35.0" '
            '"19095d07-320a-9be0-8ba5-e0d08cf58f52" "httpbin:8000" "172.17.0.14:8000"')
INBOUND_2023 = ('[2023-04-17T11:02:59.500Z] "GET /hello HTTP/1.1" 200 - via_upstream - "-" 0 60 '
                '119 119 "-" "curl/7.87.0-DEV" "4d166eba" "helloworld:5000" "x.x.x.x:5000" '
                'inbound|5000|| x.x.x.x:37311 x.x.x.x:5000 x.x.x.x:54644 outbound_.5000_._.'
                'helloworld.test.svc.cluster.local default')
UF_TLS = ('[2026-11-22T02:35:39.456Z] "GET / HTTP/1.1" 503 URX,UF upstream_reset_before_response'
          '_started{remote_connection_failure|TLS_error:|268436496:SSL_routines:OPENSSL_'
          'internal:SSLV3_ALERT_HANDSHAKE_FAILURE} - "TLS_error:|268436496:SSL_routines:'
          'OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE" 0 190 12 - "-" "curl" "r1" '
          '"httpbin:8000" "10.1.0.3:8080" outbound|8000||httpbin.foo.svc.cluster.local - '
          '10.96.0.10:8000 10.1.0.2:47156 - default')


def test_current_text_format():
    entry = parse_line(CURRENT)
    assert (entry.status, entry.flags, entry.details) == (
        503, ["UC"], "upstream_reset_before_response_started{connection_termination}")
    assert entry.upstream_cluster == "outbound|8000||httpbin.foo.svc.cluster.local"
    assert (entry.authority, entry.upstream_host, entry.route_name) == (
        "httpbin.foo:8000", "10.1.0.3:8080", "default")


def test_the_2018_layout_of_the_circuit_breaker_story():
    entry = parse_line(OLD_2018)
    assert (entry.status, entry.flags, entry.details) == (503, ["UC"], "")
    assert (entry.authority, entry.upstream_host) == ("httpbin:8000", "172.17.0.14:8000")


def test_inbound_line_of_a_field_report():
    entry = parse_line(INBOUND_2023)
    assert entry.status == 200 and entry.flags == [] and entry.details == "via_upstream"
    assert entry.upstream_cluster == "inbound|5000||"


def test_tls_failure_is_explained():
    entry = parse_line(UF_TLS)
    assert entry.flags == ["URX", "UF"]
    explained = explain_entry(entry)
    assert "refused the TLS handshake" in explained["explanation"]
    assert explained["finding"] == "upstream-connect-failure"


def test_istio_json_encoding():
    line = json.dumps({
        "start_time": "2026-11-22T02:35:39.456Z", "method": "GET", "path": "/get",
        "protocol": "HTTP/1.1", "response_code": 502, "response_flags": "UPE",
        "response_code_details": "upstream_reset_before_response_started{protocol_error}",
        "connection_termination_details": None, "upstream_transport_failure_reason": None,
        "bytes_received": 0, "bytes_sent": 87, "duration": 3, "upstream_service_time": None,
        "x_forwarded_for": None, "user_agent": "curl", "request_id": "abc",
        "authority": "legacy.foo:8000", "upstream_host": "10.1.0.3:8080",
        "upstream_cluster": "outbound|8000||legacy.foo.svc.cluster.local",
        "route_name": "default"})
    entry = parse_line(line)
    assert (entry.status, entry.flags, entry.request_id, entry.duration_ms) == (
        502, ["UPE"], "abc", 3)
    assert explain_entry(entry)["finding"] == "upstream-protocol-error"


def test_envoy_and_agent_lines_are_not_access_logs():
    for line in ("2023-03-06T13:23:40.384836Z debug envoy client [C14158] Error dispatching "
                 "received data: http/1.1 protocol error: HPE_INVALID_HEADER_TOKEN",
                 '{"level":"info","time":"2026-11-22T00:00:00Z","msg":"Envoy proxy is ready"}',
                 "Envoy proxy is NOT ready: config not received from Pilot"):
        assert parse_line(line) is None
