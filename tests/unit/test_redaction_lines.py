"""Credentials in lines of text (access logs, Envoy's debug log, URLs) and in URL userinfo
never reach an output: every format of `logs` (the raw line included), `config-dump` and
its `--save`, and what `capture` streams."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run

PASSWORD, TOKEN, COOKIE = "hunter2-Pa55", "sEcReTtOkEn0123456789", "sessionid=c00k1e-val"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQ"
SECRETS = (PASSWORD, TOKEN, "c00k1e-val", JWT, "qs-t0ken")
TEXT_LINE = (f'[2026-12-03T10:00:00.000Z] "GET /api?access_token=qs-t0ken&page=2 HTTP/1.1" '
             f'503 UC upstream_reset_before_response_started{{connection_failure}} - "-" 0 '
             f'91 1 - "Bearer {TOKEN}" "curl/8.5" "5e1a" "httpbin:8000" "10.0.0.4:80" '
             f'outbound|8000||httpbin.foo.svc.cluster.local - 10.96.0.10:8000 10.0.0.3:41000 '
             f'- default')
JSON_LINE = json.dumps({"response_code": 401, "response_flags": "-", "path": "/login",
                        "authorization": f"Basic {TOKEN}", "cookie": COOKIE,
                        "upstream_host": f"https://alice:{PASSWORD}@auth.example.com/"})
DEBUG_LINES = ("[2026-12-03 10:00:00.000][12][debug][http] [C1][S2] request headers complete:",
               "':authority', 'httpbin:8000'", f"'authorization', 'Bearer {TOKEN}'",
               f"'cookie', '{COOKIE}'", f"'x-api-key', '{JWT}'")
LOG = "\n".join([TEXT_LINE, JSON_LINE, *DEBUG_LINES]) + "\n"


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.mark.parametrize("fmt", [[], ["--explain"], ["-o", "yaml"], ["-o", "json"]])
def test_logs_show_no_credentials_in_any_format(tmp_path, fmt):
    log = tmp_path / "envoy.log"
    log.write_text(LOG)
    result = run("logs", "--log-file", str(log), *fmt)
    assert result.code == 0, result.err
    assert _leaks(result.out + result.err) == []
    assert "503" in result.out and "[redacted]" in result.out  # still the line it was
    if fmt[-1:] == ["json"]:
        items = json.loads(result.out)["items"]
        assert items[0]["path"] == "/api?access_token=[redacted]&page=2"


def test_a_password_in_url_userinfo_is_redacted_in_config_dump_and_save(tmp_path):
    dump = {"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                         "dynamic_listeners": [{"name": "x", "active_state": {"listener": {
                             "name": "x", "http_uri": {
                                 "uri": f"https://jwks:{PASSWORD}@issuer.example.com/keys",
                                 "cluster": "outbound|443||issuer.example.com"}}}}]}]}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    for fmt in ([], ["-o", "yaml"], ["-o", "json"]):
        result = run("config-dump", "--dump", str(path), *fmt)
        assert result.code == 0 and _leaks(result.out) == [], (fmt, result.err)
        assert "https://jwks:[redacted]@issuer.example.com/keys" in result.out
    saved = tmp_path / "saved.json"
    assert run("config-dump", "--dump", str(path), "--save", str(saved)).code == 0
    assert _leaks(saved.read_text()) == []


def test_the_line_scrubber_keeps_what_explains_the_failure():
    from kubectl_meshdebug.envoy.redact import scrub_line

    assert scrub_line(TEXT_LINE).startswith('[2026-12-03T10:00:00.000Z] "GET /api?access_token='
                                            '[redacted]&page=2 HTTP/1.1" 503 UC upstream_reset')
    assert scrub_line("':authority', 'httpbin:8000'") == "':authority', 'httpbin:8000'"
    assert scrub_line("outbound|8000||httpbin.foo.svc.cluster.local") == \
        "outbound|8000||httpbin.foo.svc.cluster.local"
