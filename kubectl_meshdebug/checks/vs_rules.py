"""VirtualService rules traffic can never reach (Istio's VirtualService validation
warnings, which istioctl analyze reports as IST0130 and IST0131).

Envoy tries a VirtualService's routes in order and takes the first that matches: a rule
after one with no match, a rule whose every match an earlier rule already has, or a prefix
match an earlier, shorter prefix already covers, never sees a request.
"""

from __future__ import annotations

import json
from typing import Any

from kubectl_meshdebug.checks.context import AuditContext
from kubectl_meshdebug.checks.finding import Evidence, Finding, FindingType
from kubectl_meshdebug.kube.state import as_dict, full_name, ref

Obj = dict[str, Any]

VS_RULE_UNREACHABLE = FindingType(
    "vs-rule-unreachable", "warning",
    "A VirtualService rule can never match: earlier rules take all its traffic (IST0130)",
    kinds=("VirtualService",))

VS_MATCH_INEFFECTIVE = FindingType(
    "vs-match-ineffective", "info",
    "A VirtualService match repeats or is covered by an earlier rule's (IST0131)",
    kinds=("VirtualService",))



def _pruned(value: Any) -> Any:
    """The value with empty and false fields dropped, as Go's JSON of the proto omits
    them, so that two matches compare equal when istiod's would."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", 0, False, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _key(match: Obj, http: bool) -> str:
    if http:
        match = {k: v for k, v in match.items() if k != "name"}
    return json.dumps(_pruned(match), sort_keys=True)


def _route_name(route: Obj, index: int, http: bool) -> str:
    return json.dumps(route["name"]) if http and route.get("name") else f"#{index}"


def _match_name(match: Obj, index: int, http: bool) -> str:
    return json.dumps(match["name"]) if http and match.get("name") else f"#{index}"


def _exact_or_prefix(value: Any) -> str:
    value = as_dict(value)
    if value.get("exact"):
        return f"exact:{value['exact']}"
    if value.get("prefix"):
        return f"prefix:{value['prefix']}"
    return ""


def _overlap_key(route: Obj, match: Obj, rule: int, index: int) -> Obj | None:
    """Istio's genMatchHTTPRoutes: the fields a prefix match is compared on."""
    prefix = as_dict(match.get("uri")).get("prefix")
    if not prefix:
        return None
    return {"route": _route_name(route, rule, True), "match": _match_name(match, index, True),
            "prefix": str(prefix), "port": match.get("port") or 0,
            "method": _exact_or_prefix(match.get("method")) or "exact:GET",
            "authority": _exact_or_prefix(match.get("authority")),
            **{field: {str(k): _exact_or_prefix(v) for k, v in as_dict(match.get(field)).items()}
               for field in ("headers", "queryParams", "withoutHeaders")}}


def _covers(a: Obj, b: Obj) -> bool:
    """Istio's coveredValidation: a's prefix and every other field cover b's."""
    if not b["prefix"].startswith(a["prefix"]) or a["port"] != b["port"]:
        return False
    for field in ("method", "authority"):
        if a[field] != b[field] and not a[field].startswith(b[field]):
            return False
    for field in ("headers", "queryParams", "withoutHeaders"):
        if len(a[field]) != len(b[field]):
            return False
        for key, value in a[field].items():
            if key not in b[field] or (value != b[field][key]
                                       and not value.startswith(b[field][key])):
                return False
    return True


def _analyze(routes: list[Obj], http: bool) -> list[tuple[str, str, str]]:
    """(kind, rule, detail): kind `unreachable` or `ineffective`, as istiod's
    analyzeUnreachable{HTTP,TCP,TLS}Rules report them."""
    out: list[tuple[str, str, str]] = []
    seen: dict[str, int] = {}
    empty = -1
    prefixes: list[Obj] = []
    for rule, route in enumerate(routes):
        if not isinstance(route, dict):
            continue
        name = _route_name(route, rule, http)
        matches = [m if isinstance(m, dict) else {} for m in route.get("match") or []]
        if not matches:
            if empty >= 0:
                out.append(("unreachable", name, "only the last rule can have no matches"))
            empty = rule
            continue
        duplicates = 0
        for index, match in enumerate(matches):
            if empty >= 0:
                out.append(("unreachable", name, "route without matches defined before"))
                continue
            key = _key(match, http)
            if key in seen:
                earlier = seen[key]
                out.append(("ineffective", name,
                            f"match {_match_name(match, index, http)} is not used (duplicate "
                            f"match in rule {_route_name(routes[earlier], earlier, http)})"))
                duplicates += 1
                continue
            seen[key] = rule
            overlap = _overlap_key(route, match, rule, index) if http else None
            if overlap is not None:
                prefixes.append(overlap)
        if duplicates == len(matches):
            out.append(("unreachable", name, "all matches used by prior rules"))
    for i, earlier in enumerate(prefixes):
        for later in prefixes[i + 1:]:
            if later["prefix"] != earlier["prefix"] and _covers(earlier, later):
                out.append(("ineffective", later["route"],
                            f"match {later['match']} of prefix {later['prefix']} is not used "
                            f"(overlapping match {earlier['match']} of prefix "
                            f"{earlier['prefix']} on {earlier['route']})"))
    return out


def vs_unreachable_rules(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    for vs in ctx.list("VirtualService"):
        if not ctx.in_scope(vs):
            continue
        spec = as_dict(vs.get("spec"))
        name = full_name(vs)
        for section in ("http", "tcp", "tls"):
            routes = spec.get(section) if isinstance(spec.get(section), list) else []
            for kind, rule, detail in _analyze(routes, section == "http"):
                if kind == "unreachable":
                    findings.append(VS_RULE_UNREACHABLE(
                        f"VirtualService {name} {section} rule {rule} is never used ({detail})",
                        [Evidence(ref(vs), f"{section} rule {rule}")],
                        fix="Move the rule before the one that takes its traffic, or delete "
                            "it; only the last rule may have no match.",
                        resource=ref(vs)))
                else:
                    findings.append(VS_MATCH_INEFFECTIVE(
                        f"VirtualService {name} {section} rule {rule}: {detail}",
                        [Evidence(ref(vs), f"{section} rule {rule}")],
                        fix="Delete the repeated match, or order the more specific prefix "
                            "first.",
                        resource=ref(vs)))
    return findings
