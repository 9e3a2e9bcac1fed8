"""Keep secrets out of every output and saved file: by field and by content.

Envoy redacts SDS private keys in /config_dump (`W3JlZGFjdGVkXQ==`, base64 of
`[redacted]`), but static secrets, other builds, EnvoyFilters and hand-edited dumps carry
keys, passwords and tokens in many shapes. Redacted here, in any spelling of the field:

- by field: TLS private keys, PKCS#12 bundles and their passwords, generic secrets,
  session ticket keys, OAuth2/HMAC secrets, basic-auth user lists;
- by content: any PEM private-key block (every label, unterminated, or with BEGIN and END
  labels that differ), also base64-wrapped inside an `inline_bytes`; credentials in header
  values (`authorization: Bearer ...`, cookies, API keys), passwords in URL userinfo.

`scrub_line` does the same for lines of text: access logs (text and JSON), Envoy's own
debug log (which dumps request headers at debug and trace), URLs with credential query
parameters.

The walk is iterative (no recursion limit) and changes the parsed document in place: a
dump of 100 MB is not copied to redact the few places that hold secrets.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from typing import Any

REDACTED = "[redacted]"
REDACTED_B64 = "W3JlZGFjdGVkXQ=="
# Fields whose whole value is secret (names normalised: lower case, no underscores).
SECRET_FIELDS = {"privatekey", "password", "pkcs12", "sessionticketkeys", "keys",
                 "genericsecret", "secret", "hmacsecret", "tokensecret", "clientsecret",
                 "users", "apikey", "privatekeyprovider"}
# A field named like this holds secrets only in these parents (else it is ordinary).
_ONLY_UNDER = {"keys": {"sessionticketkeys"}, "secret": {"genericsecret"},
               "users": {"basicauth", "typedconfig", "users"}}
CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie",
                      "x-api-key", "api-key", "x-auth-token"}
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*-----|\Z)",
                  re.S)
_CREDENTIAL = re.compile(r"^\s*(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}\s*$", re.I)
_B64_PEM_PREFIXES = ("LS0tLS1CRUdJTi", "LS0tLS1CRUdJT", "LS0tLS")


@lru_cache(maxsize=8192)
def _norm(key: Any) -> str:
    """A field name without case, `_` or `-` (dumps repeat a few hundred names millions
    of times: cached)."""
    return str(key).replace("_", "").replace("-", "").lower()


@lru_cache(maxsize=8192)
def _is_credential_name(key: Any) -> bool:
    return str(key).lower() in CREDENTIAL_HEADERS


def _b64_holds_key(text: str) -> bool:
    if not text.startswith(_B64_PEM_PREFIXES) or len(text) < 24:
        return False
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded


_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,20}://[^/\s:@\"']{0,256}:)[^/\s@\"']{1,256}(?=@)")


def scrub_text(text: str) -> str:
    """A string with every PEM private key (and base64-wrapped one) and every password in
    a URL's userinfo (`https://user:secret@host`, an http_uri or a JWKS address) removed."""
    if "@" in text and "://" in text:
        text = _USERINFO.sub(lambda m: m.group(1) + REDACTED, text)
    if "PRIVATE KEY" in text:
        text = _PEM.sub("[redacted private key]", text)
    if "LS0tLS" in text[:64] and _b64_holds_key(text.strip()):
        return REDACTED_B64
    return text


def _secret_value(value: Any) -> Any:
    """What a secret field becomes: data sources keep their shape, values are replaced."""
    try:
        return _secret_shape(value)
    except RecursionError:
        return REDACTED


def _secret_shape(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            name = _norm(key)
            if name == "inlinebytes":
                out[key] = REDACTED_B64
            elif name in ("inlinestring", "environmentvariable"):
                out[key] = REDACTED
            elif name == "filename":
                out[key] = inner  # a path, not the secret
            else:
                out[key] = _secret_shape(inner)
        return out
    if isinstance(value, list):
        return [_secret_shape(v) for v in value]
    if isinstance(value, str):
        return REDACTED
    return value


@lru_cache(maxsize=8192)
def _is_secret(key: Any, parent: str) -> bool:
    name = _norm(key)
    if name not in SECRET_FIELDS:
        return False
    allowed = _ONLY_UNDER.get(name)
    return allowed is None or parent in allowed


def redact(doc: Any) -> Any:
    """The document with secrets replaced (in place; also returned)."""
    if isinstance(doc, str):
        return scrub_text(doc)
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        node, parent = stack.pop()
        if isinstance(node, dict):
            header = str(node.get("key", node.get("header_name", node.get("name", ""))))
            credential_header = header.lower() in CREDENTIAL_HEADERS
            for key, value in list(node.items()):
                if _is_secret(key, parent):
                    node[key] = _secret_value(value)
                elif isinstance(value, str):
                    if credential_header and key != "key" and key != "name" and \
                            key != "header_name":
                        node[key] = REDACTED
                    elif _is_credential_name(key) or _CREDENTIAL.match(value):
                        node[key] = REDACTED
                    else:
                        node[key] = scrub_text(value)
                elif isinstance(value, (dict, list)):
                    stack.append((value, _norm(key)))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, str):
                    node[i] = scrub_text(value) if not _CREDENTIAL.match(value) else REDACTED
                elif isinstance(value, (dict, list)):
                    stack.append((value, parent))
    return doc


# Credentials in text lines (access logs, Envoy's own debug log, URLs), by shape:
_HEADER_ALTERNATION = "|".join(re.escape(h) for h in sorted(CREDENTIAL_HEADERS, key=len,
                                                            reverse=True))
_LINE_SECRETS = re.compile(
    # Envoy's debug header dump: 'authorization', 'Bearer x'
    r"(?P<dump>'(?:" + _HEADER_ALTERNATION + r")', ')[^']*(?=')"
    # JSON access logs and headers as JSON: "cookie": "a=b"
    r"|(?P<json>\"(?:" + _HEADER_ALTERNATION + r")\"\s*:\s*\")(?:[^\"\\]|\\.)*(?=\")"
    # header lines: authorization: Bearer x / cookie=...
    r"|(?P<header>\b(?:" + _HEADER_ALTERNATION + r")\s*[:=]\s*)[^\s\"',;]+(?:;\s*[^\s\"',;]+)*"
    # bearer/basic credentials anywhere
    r"|(?P<scheme>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"
    # JWTs anywhere (three base64url parts, the first a JSON header)
    r"|(?P<jwt>)eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"
    # URL userinfo: scheme://user:password@host
    r"|(?P<userinfo>\b[A-Za-z][A-Za-z0-9+.-]{0,20}://[^/\s:@\"']{0,256}:)[^/\s@\"']{1,256}(?=@)"
    # query parameters that carry credentials: ?access_token=..., &api_key=...
    r"|(?P<query>[?&;](?:access_token|id_token|refresh_token|token|api[_-]?key|apikey|key"
    r"|password|passwd|pwd|secret|client_secret|sig|signature|x-amz-signature"
    r"|x-amz-credential|x-goog-signature|auth|code)=)[^&\s\"'#]+",
    re.I)


def _line_secret(match: re.Match[str]) -> str:
    kept = next((g for g in match.groups() if g is not None), "")
    return kept + REDACTED


def scrub_line(text: str) -> str:
    """A log line or URL with its credentials replaced: credential headers (as Envoy's
    debug log, a JSON access log or a header line writes them), bearer/basic tokens, JWTs,
    the password in URL userinfo and credential query parameters. The rest stays as it
    was, so the line still explains the failure."""
    return _LINE_SECRETS.sub(_line_secret, scrub_text(text))
