"""Who refused a request, from the detail Envoy's RBAC, JWT and ext_authz filters write.
The policy names are istiod's (pilot/pkg/security/authz/builder policyName)."""

from __future__ import annotations

import pytest

from kubectl_meshdebug.checks.symptoms import explain
from kubectl_meshdebug.envoy.accesslog import parse_line
from kubectl_meshdebug.envoy.denials import find_denial


def line(code: int, details: str) -> str:
    return (f'[2026-12-04T10:00:00.000Z] "GET /ip HTTP/1.1" {code} - {details} - "-" 0 19 0 - '
            '"-" "curl/8" "abc" "httpbin:8000" "-" inbound|8080|| - 10.0.0.5:8080 '
            "10.0.0.4:4000 outbound_.8000_._.httpbin.foo.svc.cluster.local default")


@pytest.mark.parametrize("detail, words, policy", [
    ("rbac_access_denied_matched_policy[none]", "none of them matches this request", ""),
    ("rbac_access_denied_matched_policy[ns[foo]-policy[deny-get]-rule[0]]",
     "AuthorizationPolicy foo/deny-get rule 0, a DENY policy", "foo/deny-get"),
    ("rbac_access_denied_matched_policy[istio-ext-authz-opa-ns[foo]-policy[ext]-rule[2]]",
     "a CUSTOM (opa) policy", "foo/ext"),
])
def test_rbac_details_name_the_policy(detail, words, policy):
    explained = explain(parse_line(line(403, detail)))
    assert words in explained["explanation"]
    assert explained["denied_by"] == policy
    assert explained["finding"] == "authz-denied"


def test_jwt_reason_in_words():
    explained = explain(parse_line(line(401, "jwt_authn_access_denied{Jwt_is_expired}")))
    assert "rejected (Jwt is expired)" in explained["explanation"]
    assert explained["finding"] == "jwt-rejected"


def test_an_apps_own_403_is_not_a_denial():
    explained = explain(parse_line(line(403, "via_upstream")))
    assert explained["finding"] == "" and "denied" not in explained["explanation"]


def test_hostile_policy_names_are_bounded():
    assert find_denial("rbac_access_denied_matched_policy[" + "x" * 100_000 + "]") is None
    denial = find_denial("rbac_access_denied_matched_policy[ns[a]-policy[b\x1b[31m]-rule[0]]")
    assert denial is not None and not denial.name  # not istiod's grammar: shown as given


def test_control_characters_never_reach_the_words():
    denial = find_denial("rbac_access_denied_matched_policy[evil\x1b[2J\u202ename]")
    assert denial is not None
    assert "\x1b" not in denial.words() and "\u202e" not in denial.words()


def test_a_hostile_policy_name_never_reaches_a_suggested_command():
    from kubectl_meshdebug.mesh.commands import kubectl_hint

    denial = find_denial("rbac_access_denied_matched_policy[ns[foo]-policy[x; rm -rf ~]-rule[0]]")
    assert denial is not None and denial.name == "x; rm -rf ~"
    hint = kubectl_hint("get", "authorizationpolicy", denial.name, "-n", denial.namespace,
                        names=(denial.name, denial.namespace))
    assert "rm -rf" not in hint and "<name>" in hint
