"""The certificates a proxy holds, from the secrets section of its /config_dump.

Istio's sidecar gets two secrets over SDS from pilot-agent: `default` (the workload's
certificate chain, its SPIFFE identity in a URI SAN) and `ROOTCA` (the roots it trusts).
istioctl's `proxy-config secret` reads the same section; the fields here are the ones it
prints (serial as 32 hex digits, NOT AFTER / NOT BEFORE in RFC 3339, CA or Cert Chain,
valid now), plus what a diagnosis needs: every certificate of the chain, issuer and
subject, SPIFFE identities and a SHA-256 fingerprint to compare roots by.

Envoy redacts private keys (`[redacted]`); nothing here reads them. The certificate bytes
are data from the proxy: their count and size are bounded and a certificate that does
not parse is reported, not raised.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_PEM_BYTES = 1 << 20  # one secret's certificates; Istio's are a few KB
MAX_CERTS = 64  # certificates per secret (a large trust bundle stays well under)
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class CertInfo:
    serial_number: str  # 32 hex digits at least, as istioctl prints it
    not_before: datetime
    not_after: datetime
    is_ca: bool
    subject: str
    issuer: str
    identities: tuple[str, ...]  # URI SANs (spiffe://TRUST_DOMAIN/ns/NS/sa/ACCOUNT)
    fingerprint: str  # SHA-256 of the DER bytes, hex

    def valid_at(self, now: datetime) -> bool:
        return self.not_before <= now <= self.not_after

    @property
    def trust_domain(self) -> str:
        for uri in self.identities:
            if uri.startswith("spiffe://"):
                return uri[len("spiffe://"):].split("/", 1)[0]
        return ""


@dataclass
class SecretItem:
    """One SDS secret as the proxy holds it."""

    name: str
    state: str  # ACTIVE, WARMING or UNINITIALIZED
    kind: str  # "Cert Chain" (a certificate and key) or "CA" (trusted roots)
    certs: list[CertInfo] = field(default_factory=list)
    version: str = ""
    last_updated: str = ""
    error: str = ""  # why the certificates could not be read

    @property
    def leaf(self) -> CertInfo | None:
        return self.certs[0] if self.certs else None


def rfc3339(value: datetime) -> str:
    """A certificate time as istioctl prints NOT AFTER / NOT BEFORE (UTC, seconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name_text(name: Any) -> str:
    try:
        return str(name.human_friendly)
    except Exception:  # noqa: BLE001 - an odd name is shown as unknown, not raised
        return "?"


def parse_der(der: bytes) -> CertInfo:
    """One DER certificate; ValueError when it is not one."""
    from asn1crypto import x509  # pure Python: the single-file build stays portable

    try:
        cert = x509.Certificate.load(der)
        tbs = cert["tbs_certificate"]
        validity = tbs["validity"]
        not_before = validity["not_before"].native
        not_after = validity["not_after"].native
        serial = int(tbs["serial_number"].native)
        constraints = cert.basic_constraints_value
        is_ca = bool(constraints and constraints["ca"].native)
        sans = cert.subject_alt_name_value
        identities = tuple(str(n.native) for n in (sans or [])
                           if n.name == "uniform_resource_identifier")
        subject, issuer = _name_text(cert.subject), _name_text(cert.issuer)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not an X.509 certificate ({exc.__class__.__name__})") from exc
    if not isinstance(not_before, datetime) or not isinstance(not_after, datetime):
        raise ValueError("a certificate without validity dates")
    return CertInfo(format(serial, "032x"), not_before, not_after, is_ca, subject, issuer,
                    identities, hashlib.sha256(der).hexdigest())


def parse_pem_bundle(pem: bytes) -> list[CertInfo]:
    """Every certificate of a PEM bundle, in order; ValueError on the first bad one."""
    if len(pem) > MAX_PEM_BYTES:
        raise ValueError(f"{len(pem)} bytes of certificates: more than a proxy holds")
    out = []
    for match in _PEM.finditer(pem):
        if len(out) >= MAX_CERTS:
            break
        try:
            der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("a PEM block that is not base64") from exc
        out.append(parse_der(der))
    if not out:
        raise ValueError("no PEM certificate")
    return out


def _inline(source: Any) -> bytes | None:
    """The bytes of a DataSource (inline_bytes is base64 in proto JSON)."""
    if not isinstance(source, dict):
        return None
    if isinstance(source.get("inline_bytes"), str):
        try:
            return base64.b64decode(source["inline_bytes"], validate=False)
        except (binascii.Error, ValueError):
            return b""
    if isinstance(source.get("inline_string"), str):
        return source["inline_string"].encode("utf-8", "replace")
    return None


def _secret_item(entry: dict[str, Any], state: str) -> SecretItem:
    secret = entry.get("secret") if isinstance(entry.get("secret"), dict) else {}
    name = str(entry.get("name") or secret.get("name") or "")
    version = str(entry.get("version_info") or "")
    if version == "uninitialized" and state == "ACTIVE":  # as istioctl says it
        state = "UNINITIALIZED"
    chain = _inline((secret.get("tls_certificate") or {}).get("certificate_chain"))
    validation = secret.get("validation_context") or {}
    roots = _inline(validation.get("trusted_ca")) if isinstance(validation, dict) else None
    item = SecretItem(name, state, "Cert Chain" if chain is not None else "CA",
                      version=version, last_updated=str(entry.get("last_updated") or ""))
    data = chain if chain is not None else roots
    if data is None:  # not delivered yet (warming), or a kind of secret not shown here
        item.kind = ""
        return item
    try:
        item.certs = parse_pem_bundle(data)
    except ValueError as exc:
        item.error = str(exc)
    if item.certs and chain is None and not item.certs[0].is_ca:
        item.kind = "Cert Chain"
    elif item.certs and chain is not None and item.certs[0].is_ca:
        item.kind = "CA"  # istioctl types a secret by its first certificate
    return item


def secret_items(section: dict[str, Any] | None) -> list[SecretItem]:
    """The secrets of a SecretsConfigDump: warming first, then active, then static."""
    section = section if isinstance(section, dict) else {}
    out = []
    for key, state in (("dynamic_warming_secrets", "WARMING"),
                       ("dynamic_active_secrets", "ACTIVE"), ("static_secrets", "ACTIVE")):
        for entry in section.get(key) or []:
            if isinstance(entry, dict):
                out.append(_secret_item(entry, state))
    return out


def row(item: SecretItem, now: datetime) -> dict[str, Any]:
    """istioctl's columns for one secret (its first certificate), and ours."""
    leaf = item.leaf
    return {
        "name": item.name, "type": item.kind, "state": item.state,
        "valid": leaf.valid_at(now) if leaf else False,
        "serial_number": leaf.serial_number if leaf else "",
        "not_after": rfc3339(leaf.not_after) if leaf else "",
        "not_before": rfc3339(leaf.not_before) if leaf else "",
        "trust_domain": leaf.trust_domain if leaf else "",
        "identities": list(leaf.identities) if leaf else [],
        "issuer": leaf.issuer if leaf else "",
        "certificates": len(item.certs),
        "fingerprint_sha256": leaf.fingerprint if leaf else "",
        "error": item.error,
    }
