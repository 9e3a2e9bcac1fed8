"""Host names as Istio reads them in rules, and as Envoy matches them in virtual hosts."""

from __future__ import annotations

DOMAIN = "cluster.local"


def resolve_host(host: str, namespace: str, domain: str = DOMAIN) -> str:
    """Istio's ResolveShortnameToFQDN: a name without dots is in the rule's namespace.

    `httpbin` in namespace foo -> `httpbin.foo.svc.cluster.local`. Names with dots
    (`httpbin.foo`, FQDNs) and wildcards are taken as written, as istiod does.
    """
    host = host.strip().lower()
    if not host or host == "*" or "." in host or host.startswith("*"):
        return host
    return f"{host}.{namespace}.svc.{domain}"


def host_matches(pattern: str, fqdn: str) -> bool:
    """A rule host (exact or `*.suffix` wildcard) against a service hostname."""
    pattern, fqdn = pattern.lower(), fqdn.lower()
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return fqdn.endswith(pattern[1:])
    return pattern == fqdn


def names_match(a: str, b: str) -> bool:
    """Istio's host.Name.Matches, where either side may be a `*.suffix` wildcard: two
    wildcards match when one suffix ends the other."""
    a, b = a.lower(), b.lower()
    if a.startswith("*") and b.startswith("*"):
        return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
    if a.startswith("*"):
        return b.endswith(a[1:])
    if b.startswith("*"):
        return a.endswith(b[1:])
    return a == b


def specificity(pattern: str) -> tuple[int, int]:
    """Sort key: exact hosts first, then longer wildcards (Istio's most-specific-wins)."""
    return (0 if not pattern.startswith("*") else 1, -len(pattern))


def vhost_matches(domains: list[str], host: str) -> bool:
    """Envoy's virtual-host domain matching: exact, `*.suffix`, `prefix*`, `*`."""
    host = host.lower()
    bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    for domain in domains:
        d = domain.lower()
        if d == "*" or d in (host, bare):
            return True
        if d.startswith("*") and (host.endswith(d[1:]) or bare.endswith(d[1:])):
            return True
        if d.endswith("*") and host.startswith(d[:-1]):
            return True
    return False


def exported_to(obj: dict, client_namespace: str) -> bool:
    """`exportTo`: absent or `*` everywhere, `.` its own namespace, else a namespace list."""
    export = (obj.get("spec") or {}).get("exportTo")
    if not export:
        return True
    own = (obj.get("metadata") or {}).get("namespace")
    for entry in export:
        if entry == "*" or entry == client_namespace or (entry == "." and own == client_namespace):
            return True
    return False
