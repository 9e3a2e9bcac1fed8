"""Requests the mesh refused on purpose, read from Envoy's response details.

A 403 or 401 from a sidecar carries no response flag; what it carries is the detail the
filter that refused it wrote into %RESPONSE_CODE_DETAILS% (or, for TCP, into
%CONNECTION_TERMINATION_DETAILS%):

- the RBAC filter: `rbac_access_denied_matched_policy[NAME]`, where NAME is the policy that
  matched, or `none` when the workload has ALLOW policies and none of them matched. istiod
  names each rule `ns[NAMESPACE]-policy[NAME]-rule[INDEX]` (pilot/pkg/security/authz/builder,
  policyName), prefixed `istio-ext-authz-[PROVIDER-]` for CUSTOM policies;
- the JWT filter: `jwt_authn_access_denied{REASON}` (401);
- the external authorizer: `ext_authz_denied`, `ext_authz_error`.

The text is data from the proxy: the parts are bounded and kept to one line by the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubectl_meshdebug.text import one_line

_RBAC = re.compile(r"rbac_access_denied_matched_policy\[(?P<policy>.{0,512})\]")
_ISTIO_RULE = re.compile(
    r"^(?P<custom>istio-ext-authz(?:-(?P<provider>.{1,128}?))?-)?"
    r"ns\[(?P<namespace>[^\[\]]{1,253})\]-policy\[(?P<name>[^\[\]]{1,253})\]"
    r"-rule\[(?P<rule>\d{1,6})\]$")
_JWT = re.compile(r"jwt_authn_access_denied\{(?P<reason>[^{}]{0,256})\}")


@dataclass(frozen=True)
class Denial:
    """Who refused a request, as far as the proxy's detail says."""

    filter: str  # "rbac", "jwt" or "ext_authz"
    policy: str = ""  # the RBAC policy name as Envoy wrote it ("none": no ALLOW matched)
    namespace: str = ""  # the AuthorizationPolicy's, when istiod named the rule
    name: str = ""
    rule: int | None = None
    provider: str = ""  # a CUSTOM policy's extension provider
    reason: str = ""  # the JWT filter's reason, in words

    @property
    def policy_ref(self) -> str:
        """`NAMESPACE/NAME` of the AuthorizationPolicy, when the detail names one."""
        return one_line(f"{self.namespace}/{self.name}") if self.name else ""

    def words(self) -> str:
        if self.filter == "jwt":
            return (f"the request's JWT was rejected ({one_line(self.reason) or 'no reason'}): a "
                    "RequestAuthentication's issuer or keys do not accept the token")
        if self.filter == "ext_authz":
            return ("the external authorizer (a CUSTOM AuthorizationPolicy's provider) "
                    + ("failed to answer" if self.reason == "error" else "denied the request"))
        if self.policy == "none":
            return ("denied by authorization: the workload has ALLOW AuthorizationPolicies "
                    "and none of them matches this request")
        if self.name:
            rule = f" rule {self.rule}" if self.rule is not None else ""
            kind = f"CUSTOM ({one_line(self.provider) or 'ext_authz'})" if self.provider or \
                self.policy.startswith("istio-ext-authz") else "DENY"
            return (f"denied by AuthorizationPolicy {self.policy_ref}{rule}, a {kind} policy "
                    "that matched this request")
        return f"denied by the RBAC policy {one_line(self.policy)}"


def find_denial(text: str) -> Denial | None:
    """The denial a response or termination detail records, or None."""
    match = _RBAC.search(text)
    if match:
        policy = match.group("policy")
        rule = _ISTIO_RULE.match(policy)
        if rule:
            return Denial("rbac", policy, rule.group("namespace"), rule.group("name"),
                          int(rule.group("rule")), rule.group("provider") or "")
        return Denial("rbac", policy)
    match = _JWT.search(text)
    if match:
        return Denial("jwt", reason=match.group("reason").replace("_", " "))
    if "ext_authz_denied" in text:
        return Denial("ext_authz", reason="denied")
    if "ext_authz_error" in text:
        return Denial("ext_authz", reason="error")
    return None
