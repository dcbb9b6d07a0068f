"""PayPal webhook signatures verified offline, PayPal's preferred method, over the body's bytes
exactly as received (the verify-webhook-signature API would need the event re-serialised, which
can change its bytes and fail a genuine delivery).

PayPal signs ``<transmission id>|<transmission time>|<webhook id>|<CRC32 of the body>`` with
RSA-SHA256 and names its signing certificate in ``paypal-cert-url``. The certificate is accepted
only from PayPal's host, with its chain issued up to a trusted root, within its dates and naming
PayPal's message-signing subject; it is fetched once per container and URL. A delivery older than
the tolerance is refused: PayPal signs every delivery, retries included, when it sends it."""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import requests

if TYPE_CHECKING:
    from cryptography import x509

ALGORITHM = "SHA256withRSA"
SIGNING_SUBJECT = "messageverificationcerts.paypal.com"
TOLERANCE_SECONDS = 900


class SignatureRefused(Exception):
    """The delivery is not PayPal's (or not ours, or too old); the reason is for our logs only."""


def trusted_cert_url(url: str, paypal_api_base: str) -> bool:
    """The signing certificate must come from PayPal (or, locally, from the configured PayPal)."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if parsed.scheme == "https" and (host == "paypal.com" or host.endswith(".paypal.com")):
        return True
    return url.startswith(paypal_api_base.rstrip("/") + "/")


def _transmitted_at(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise SignatureRefused("transmission time is not a timestamp") from None


class PayPalSignatureVerifier:
    def __init__(
        self,
        paypal_api_base: str,
        trusted_roots_pem: bytes | None = None,
        fetch: Callable[[str], bytes] | None = None,
        clock: Callable[[], float] = time.time,
        tolerance_seconds: int = TOLERANCE_SECONDS,
    ) -> None:
        self._api_base = paypal_api_base
        self._roots_pem = trusted_roots_pem
        self._fetch = fetch or _download
        self._clock = clock
        self._tolerance = tolerance_seconds
        self._chains = functools.lru_cache(maxsize=8)(self._trusted_chain)

    def verify(self, headers: dict[str, str], body: bytes, webhook_id: str) -> None:
        """Raises SignatureRefused unless PayPal signed exactly these bytes for our webhook id."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        if headers.get("paypal-auth-algo") != ALGORITHM:
            raise SignatureRefused("unsupported signature algorithm")
        cert_url = headers.get("paypal-cert-url", "")
        if not trusted_cert_url(cert_url, self._api_base):
            raise SignatureRefused("certificate URL is not PayPal's")
        transmitted = headers.get("paypal-transmission-time", "")
        if abs(self._clock() - _transmitted_at(transmitted)) > self._tolerance:
            raise SignatureRefused("delivery is outside the tolerance")
        try:
            signature = base64.b64decode(headers.get("paypal-transmission-sig", ""), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureRefused("signature is not base64") from None
        message = f"{headers.get('paypal-transmission-id', '')}|{transmitted}|{webhook_id}|{zlib.crc32(body)}".encode()
        chain = self._chains(cert_url)
        now = datetime.fromtimestamp(self._clock(), UTC)
        # Every delivery, not only the first fetch: a cached certificate may expire in a warm container.
        if not all(certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc for certificate in chain):
            raise SignatureRefused("certificate is outside its dates")
        key = chain[0].public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureRefused("certificate key is not RSA")
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise SignatureRefused("signature does not match") from None

    def _trusted_chain(self, cert_url: str) -> list[x509.Certificate]:
        """The signing certificate and its chain, once the chain and the subject are checked (cached per URL)."""
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        try:
            chain = x509.load_pem_x509_certificates(self._fetch(cert_url))
        except (ValueError, requests.RequestException):
            raise SignatureRefused("certificate could not be fetched or read") from None
        roots = x509.load_pem_x509_certificates(self._roots_pem or _system_roots())
        if not all(_was_issued_by(child, parent) for child, parent in itertools.pairwise(chain)):
            raise SignatureRefused("certificate chain is broken")
        last = chain[-1]
        if not any(_was_issued_by(last, root) or last == root for root in roots):
            raise SignatureRefused("certificate chain does not lead to a trusted root")
        names = [attribute.value for attribute in chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if SIGNING_SUBJECT not in names:
            raise SignatureRefused("certificate is not PayPal's message-signing certificate")
        return chain


def _was_issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _download(url: str) -> bytes:
    response = requests.get(url, timeout=(1.5, 3.0))
    response.raise_for_status()
    return response.content


def _system_roots() -> bytes:
    import certifi

    with open(certifi.where(), "rb") as bundle:
        return bundle.read()
