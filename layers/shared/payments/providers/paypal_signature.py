"""PayPal webhook signatures verified offline, PayPal's preferred method, over the body's bytes
exactly as received (the verify-webhook-signature API would need the event re-serialised, which
can change its bytes and fail a genuine delivery).

PayPal signs ``<transmission id>|<transmission time>|<webhook id>|<CRC32 of the body>`` with
RSA-SHA256 and names its signing certificate in ``paypal-cert-url``. Three trust decisions, each
on a maintained library rather than a hand-written check:

- The address is parsed once, by urllib3's ``parse_url``, and the download connects to exactly the
  parsed scheme, host, port and path (urllib3's own pool, no second parser reading the host in
  its own way): https, one of PayPal's certificate hosts, the default port, no user info, query or
  fragment, PayPal's certificate path, and the text exactly as urllib3 writes those pieces back
  (so no upper case, percent-encoding, backslash or dot-segment reads differently anywhere).
  Locally, the configured PayPal (the fake) is allowed as exactly its origin and path prefix. No
  redirect is followed, the answer is bounded in size and time.
- The certificate path is validated by ``cryptography.x509.verification`` (RFC 5280 and the CA/B
  Forum's rules): every issuer a CA with keyCertSign, up to a trusted root, every certificate
  within its dates at this delivery's verification time (a cached certificate expires in a warm
  container too), the leaf issued to exactly PayPal's signing name, for digital signatures.
- A delivery older than the tolerance is refused. A replay within it, with another body of the
  same CRC32, is refused by the caller, which records each transmission id with its body's digest.

The downloaded certificates are cached per container and address; the validation runs on every delivery."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import re
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from payments.domain.ports import SignatureRefused, VerifiedDelivery

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.x509.verification import ExtensionPolicy, Policy, Store

ALGORITHM = "SHA256withRSA"
SIGNING_NAME = "messageverificationcerts.paypal.com"
# PayPal's own SDKs accept this name for the sandbox's signing certificate; only a sandbox configuration does here.
SANDBOX_SIGNING_NAME = "messageverificationcerts.sandbox.paypal.com"
TOLERANCE_SECONDS = 900
# The hosts PayPal names in paypal-cert-url, live and sandbox (api-m.* are the newer names of the same APIs).
LIVE_CERTIFICATE_HOSTS = frozenset({"api.paypal.com", "api-m.paypal.com"})
SANDBOX_CERTIFICATE_HOSTS = frozenset({"api.sandbox.paypal.com", "api-m.sandbox.paypal.com"})
CERTIFICATE_PATH = "/v1/notifications/certs/"
# The last segment names the certificate (CERT-360caa42-fca2a594-...): no dot segment, no encoding.
CERTIFICATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
MAX_CERTIFICATE_BYTES = 64 * 1024  # a PEM chain is a few kilobytes
MAX_CERTIFICATES = 8
SIGNED_HEADERS = ("paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig", "paypal-cert-url", "paypal-auth-algo")
MAX_TRANSMISSION_ID = 128  # PayPal's own limit is 50; the id becomes a DynamoDB key
CONNECT_TIMEOUT_SECONDS = 1.5
READ_TIMEOUT_SECONDS = 3.0
TOTAL_TIMEOUT_SECONDS = 4.0


def _is_text(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class CertificateAddress:
    """Where the download connects: the pieces urllib3 parsed, handed to the connection as they are."""

    scheme: str
    host: str
    port: int | None
    path: str

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host}{port}{self.path}"


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int | None
    path_prefix: str


@functools.cache
def _origins(paypal_api_base: str) -> tuple[_Origin, ...]:
    """PayPal's certificate hosts, and the configured PayPal's own origin when it is not PayPal
    (the local fake: template.yaml allows only PayPal's two bases in AWS)."""
    from urllib3.util import parse_url

    paypal = tuple(_Origin("https", host, None, CERTIFICATE_PATH) for host in sorted(LIVE_CERTIFICATE_HOSTS | SANDBOX_CERTIFICATE_HOSTS))
    base = parse_url(paypal_api_base)
    if base.scheme not in ("http", "https") or not base.host or base.auth or base.query or base.fragment:
        return paypal
    configured = _Origin(base.scheme, base.host, base.port, (base.path or "").rstrip("/") + CERTIFICATE_PATH)
    return paypal if configured in paypal else (*paypal, configured)


def certificate_address(url: str, paypal_api_base: str) -> CertificateAddress:
    """The certificate's address once urllib3 has parsed it, if it is PayPal's (or, locally, the
    configured PayPal's); SignatureRefused otherwise."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise SignatureRefused("certificate URL is not a URL") from None
    # urllib3 normalises what it parses (case, percent-encoding, dot segments, a backslash); a URL
    # that is not already in that form is one that another reader could take elsewhere.
    if parsed.url != url or parsed.auth is not None or parsed.query is not None or parsed.fragment is not None:
        raise SignatureRefused("certificate URL is not PayPal's")
    for origin in _origins(paypal_api_base):
        if (parsed.scheme, parsed.host, parsed.port) == (origin.scheme, origin.host, origin.port):
            path = parsed.path or ""
            if path.startswith(origin.path_prefix) and CERTIFICATE_NAME.fullmatch(path.removeprefix(origin.path_prefix)):
                return CertificateAddress(origin.scheme, origin.host, origin.port, path)
    raise SignatureRefused("certificate URL is not PayPal's")


def trusted_cert_url(url: str, paypal_api_base: str) -> bool:
    try:
        certificate_address(url, paypal_api_base)
    except SignatureRefused:
        return False
    return True


def signing_names(paypal_api_base: str) -> frozenset[str]:
    """The names PayPal's signing certificate may be issued to, for this configuration."""
    from urllib3.util import parse_url

    host = parse_url(paypal_api_base).host if paypal_api_base else None
    return frozenset({SIGNING_NAME, SANDBOX_SIGNING_NAME}) if host in SANDBOX_CERTIFICATE_HOSTS else frozenset({SIGNING_NAME})


def _transmitted_at(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("no offset")
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise SignatureRefused("transmission time is not a timestamp") from None


class PayPalSignatureVerifier:
    def __init__(
        self,
        paypal_api_base: str,
        trusted_roots_pem: bytes | None = None,
        fetch: Callable[[CertificateAddress], bytes] | None = None,
        clock: Callable[[], float] = time.time,
        tolerance_seconds: int = TOLERANCE_SECONDS,
    ) -> None:
        self._api_base = paypal_api_base
        self._names = signing_names(paypal_api_base)
        self._roots_pem = trusted_roots_pem
        self._fetch = fetch or download
        self._clock = clock
        self._tolerance = tolerance_seconds
        self._certificates = functools.lru_cache(maxsize=8)(self._downloaded_certificates)

    def verify(self, headers: dict[str, str], body: bytes, webhook_id: str) -> VerifiedDelivery:
        """Raises SignatureRefused unless PayPal signed these bytes' CRC32 for our webhook id."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        # A header that is not Unicode text (a lone surrogate) can be neither encoded into the
        # signed message nor stored: refused as any bad signature is, before anything reads it.
        if not all(_is_text(headers.get(name, "")) for name in SIGNED_HEADERS):
            raise SignatureRefused("a signature header is not Unicode text")
        if headers.get("paypal-auth-algo") != ALGORITHM:
            raise SignatureRefused("unsupported signature algorithm")
        address = certificate_address(headers.get("paypal-cert-url", ""), self._api_base)
        transmitted = headers.get("paypal-transmission-time", "")
        now = self._clock()
        transmitted_at = _transmitted_at(transmitted)
        if abs(now - transmitted_at) > self._tolerance:
            raise SignatureRefused("delivery is outside the tolerance")
        transmission_id = headers.get("paypal-transmission-id", "")
        if len(transmission_id) > MAX_TRANSMISSION_ID:
            raise SignatureRefused("transmission id is too long")
        try:
            signature = base64.b64decode(headers.get("paypal-transmission-sig", ""), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureRefused("signature is not base64") from None
        leaf, intermediates = self._certificates(address)
        self._validate_path(leaf, intermediates, datetime.fromtimestamp(now, UTC))
        key = leaf.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureRefused("certificate key is not RSA")
        message = f"{transmission_id}|{transmitted}|{webhook_id}|{zlib.crc32(body)}".encode()
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise SignatureRefused("signature does not match") from None
        return VerifiedDelivery(transmission_id, hashlib.sha256(body).hexdigest(), int(now), math.ceil(transmitted_at + self._tolerance))

    def _downloaded_certificates(self, address: CertificateAddress) -> tuple[x509.Certificate, list[x509.Certificate]]:
        """The leaf and the certificates served with it, read but not yet trusted (cached per address)."""
        from cryptography import x509

        try:
            certificates = x509.load_pem_x509_certificates(self._fetch(address))
        except ValueError:
            raise SignatureRefused("certificate could not be read") from None
        if len(certificates) > MAX_CERTIFICATES:
            raise SignatureRefused("certificate chain is too long")
        return certificates[0], certificates[1:]

    def _validate_path(self, leaf: x509.Certificate, intermediates: list[x509.Certificate], at: datetime) -> None:
        from cryptography import x509
        from cryptography.x509.verification import PolicyBuilder, VerificationError

        try:
            offered = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
            offered = []  # the verifier below refuses such a leaf with its reason
        # The server verifier wants one name: the leaf's own if it is one we accept (the validator
        # below insists on it exactly), else PayPal's, which a leaf without it then fails.
        name = next((candidate for candidate in sorted(self._names) if candidate in offered), SIGNING_NAME)
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(at)
            .max_chain_depth(MAX_CERTIFICATES - 2)
            .extension_policies(ca_policy=_ca_policy(), ee_policy=_signing_leaf_policy())
            .build_server_verifier(x509.DNSName(name))
        )
        try:
            verifier.verify(leaf, intermediates)
        except VerificationError as error:
            raise SignatureRefused(f"certificate path does not validate: {error}") from None

    @functools.cached_property
    def _store(self) -> Store:
        from cryptography.x509.verification import Store

        # No root at all is a configuration error (a 5xx, so PayPal retries), not a forged delivery.
        return Store(_roots(self._roots_pem or _system_roots()))


def _exactly_the_signing_name(policy: Policy, certificate: x509.Certificate, names: x509.SubjectAlternativeName) -> None:
    """The server verifier would match a wildcard (*.paypal.com) too; PayPal's signing
    certificate names itself, and a certificate for any other PayPal host is not it."""
    from cryptography import x509

    subject = policy.subject
    if not isinstance(subject, x509.DNSName) or subject.value not in [name.lower() for name in names.get_values_for_type(x509.DNSName)]:
        raise ValueError("leaf is not issued to PayPal's signing name exactly")


def _for_digital_signatures(policy: Policy, certificate: x509.Certificate, usage: x509.KeyUsage) -> None:
    if not usage.digital_signature or usage.key_cert_sign:
        raise ValueError("leaf key usage is not digitalSignature alone among signing uses")


@functools.cache
def _signing_leaf_policy() -> ExtensionPolicy:
    """The CA/B Forum's leaf rules (not a CA, serverAuth if an EKU is given), and: the leaf names
    exactly the signing name and its key usage allows digital signatures."""
    from cryptography import x509
    from cryptography.x509.verification import Criticality, ExtensionPolicy

    return (
        ExtensionPolicy.webpki_defaults_ee()
        .require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, _exactly_the_signing_name)
        .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _for_digital_signatures)
    )


@functools.cache
def _ca_policy() -> ExtensionPolicy:
    """Every issuer: basicConstraints CA=true (critical), keyUsage with keyCertSign, path lengths."""
    from cryptography.x509.verification import ExtensionPolicy

    return ExtensionPolicy.webpki_defaults_ca()


def download(address: CertificateAddress) -> bytes:
    """The certificate file at exactly ``address``: one GET on urllib3's pool for that scheme, host
    and port; no redirect, no retry, bounded in time and size; anything but 200 is refused."""
    import certifi
    import urllib3
    from urllib3.exceptions import HTTPError

    timeout = urllib3.Timeout(total=TOTAL_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
    pool: urllib3.HTTPConnectionPool
    if address.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(address.host, address.port, timeout=timeout, retries=False, maxsize=1, ca_certs=certifi.where())
    else:
        pool = urllib3.HTTPConnectionPool(address.host, address.port, timeout=timeout, retries=False, maxsize=1)
    try:
        with pool:
            response = pool.urlopen(
                "GET",
                address.path,
                headers={"Accept": "application/x-pem-file, */*"},
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
            )
            try:
                if response.status != 200:
                    raise SignatureRefused(f"certificate download answered {response.status}")
                content = response.read(MAX_CERTIFICATE_BYTES + 1)
            finally:
                response.release_conn()
    except (HTTPError, OSError):
        raise SignatureRefused("certificate could not be fetched") from None
    if len(content) > MAX_CERTIFICATE_BYTES:
        raise SignatureRefused("certificate file is too large")
    return content


def _roots(bundle: bytes) -> list[x509.Certificate]:
    """The bundle's certificates. A few public roots (Go Daddy G2, Starfield G2, ...) carry serial
    numbers that this cryptography warns about and a later one will refuse: then each is read on
    its own and such a root left out, rather than the whole bundle failing and every delivery with it."""
    from cryptography import x509
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return x509.load_pem_x509_certificates(bundle)
        except ValueError:
            roots = []
            for block in re.findall(rb"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----", bundle):
                try:
                    roots.append(x509.load_pem_x509_certificate(block))
                except ValueError:
                    continue
            return roots


def _system_roots() -> bytes:
    import certifi

    with open(certifi.where(), "rb") as bundle:
        return bundle.read()
