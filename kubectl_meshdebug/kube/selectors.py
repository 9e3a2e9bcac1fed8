"""`-l` label selectors as kubectl writes them: `app=x,tier!=db,version`, `env in (a,b)`."""

from __future__ import annotations

import re

from kubectl_meshdebug.errors import UsageError

Term = tuple[str, str, tuple[str, ...]]
_SET = re.compile(r"^\s*([^\s!=,()]+)\s+(in|notin)\s+\(([^()]*)\)\s*$")
_KEY = re.compile(r"^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _split(text: str) -> list[str]:
    """Split at commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _key(key: str, text: str) -> str:
    key = key.strip()
    if not _KEY.match(key):
        raise UsageError(f"-l {text!r}: {key!r} is not a label key")
    return key


def parse_selector(text: str) -> list[Term]:
    """The terms of a selector; each is (key, op, values) with op in =, !=, in, notin,
    exists, !exists."""
    terms: list[Term] = []
    for part in _split(text):
        if not part.strip():
            continue
        found = _SET.match(part)
        if found:
            values = tuple(v.strip() for v in found.group(3).split(",") if v.strip())
            terms.append((_key(found.group(1), text), found.group(2), values))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            terms.append((_key(k, text), "!=", (v.strip(),)))
        elif "=" in part:
            k, v = part.replace("==", "=").split("=", 1)
            terms.append((_key(k, text), "=", (v.strip(),)))
        elif part.strip().startswith("!"):
            terms.append((_key(part.strip()[1:], text), "!exists", ()))
        else:
            terms.append((_key(part, text), "exists", ()))
    if not terms:
        raise UsageError(f"-l {text!r} is not a label selector")
    return terms


def term_matches(labels: dict[str, str], term: Term) -> bool:
    key, op, values = term
    if op == "=":
        return labels.get(key) == values[0]
    if op == "!=":
        return labels.get(key) != values[0]
    if op == "in":
        return labels.get(key) in values
    if op == "notin":
        return labels.get(key) not in values
    if op == "!exists":
        return key not in labels
    return key in labels


def selector_matches(terms: list[Term], labels: dict[str, str]) -> bool:
    return all(term_matches(labels, t) for t in terms)


def selector_text(selector: dict[str, str]) -> str:
    """klabels.SelectorFromSet(...).String(), as istioctl prints a selector: `k=v` pairs
    sorted by key, comma-separated ("" for the empty selector)."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
