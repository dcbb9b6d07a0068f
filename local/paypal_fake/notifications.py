"""Webhook notifications: deliveries signed as PayPal signs them (RSA-SHA256 with a certificate
served at ``PAYPAL-CERT-URL``), and the verify-webhook-signature API for callers that still ask."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import secrets
import zlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from local.paypal_fake.objects import Body, invalid, now_text
from local.provider_fake import Kind, Route

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from local.paypal_fake.app import PayPalFake

    IssuingKey = EllipticCurvePrivateKey | RSAPrivateKey

CERT_PATH = "/v1/notifications/certs/CERT-360caa42-fca2a594-local"
SIGNING_NAME = "messageverificationcerts.paypal.com"


def issue_certificate(
    common_name: str,
    key: IssuingKey,
    issuer: tuple[x509.Certificate, IssuingKey] | None = None,
    *,
    ca: bool,
    key_cert_sign: bool | None = None,
    digital_signature: bool | None = None,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    """One certificate as a public CA issues it (self-signed when ``issuer`` is None): basic
    constraints, key usage (keyCertSign for a CA, digitalSignature for a leaf, unless
    ``key_cert_sign`` or ``digital_signature`` say otherwise), key identifiers, and for a leaf
    serverAuth and its names. Tests pass odd arguments to build the chains an attacker would present."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    signs_certificates = ca if key_cert_sign is None else key_cert_sign
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca if digital_signature is None else digital_signature,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=signs_certificates,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if dns_names or ip_addresses:
        names = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(*certificates: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return b"".join(certificate.public_bytes(serialization.Encoding.PEM) for certificate in certificates)


class Signer:
    """The fake's message-signing certificate, shaped as PayPal's: a leaf for
    messageverificationcerts.paypal.com (RSA, digitalSignature) issued by an intermediate CA under
    the fake's own root, so that local runs go through the same path validation as PayPal's own."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        # The CAs sign with P-256 keys (instant to make); the leaf is RSA, as SHA256withRSA needs.
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = issue_certificate("Local PayPal Root CA", self.root_key, ca=True)
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = issue_certificate("Local PayPal Issuing CA", self.intermediate_key, (self.root, self.root_key), ca=True)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.leaf = issue_certificate(
            SIGNING_NAME, self.key, (self.intermediate, self.intermediate_key), ca=False, dns_names=(SIGNING_NAME,)
        )
        self.root_pem = pem(self.root).decode()
        self.chain_pem = pem(self.leaf, self.intermediate)  # what PayPal serves: the leaf and its issuer

    def sign(self, message: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return base64.b64encode(self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def delivery_headers(fake: PayPalFake, payload: bytes, event: dict[str, Any], webhook_id: str) -> dict[str, str]:
    """Headers of a delivery, as PayPal signs it: RSA-SHA256 over transmission id, time, webhook id
    and the body's CRC32, with the certificate served at PAYPAL-CERT-URL."""
    transmission_id = secrets.token_hex(16)
    transmission_time = now_text()
    signature = fake.signer.sign(f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(payload)}".encode())
    fake.deliveries[transmission_id] = {"event": event, "webhook_id": webhook_id, "signature": signature, "time": transmission_time}
    return {
        "Content-Type": "application/json",
        "PAYPAL-TRANSMISSION-ID": transmission_id,
        "PAYPAL-TRANSMISSION-TIME": transmission_time,
        "PAYPAL-TRANSMISSION-SIG": signature,
        "PAYPAL-CERT-URL": f"{fake.public_url}{CERT_PATH}",
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    }


def certificate(fake: PayPalFake, request: Request) -> Response:
    return Response(fake.signer.chain_pem, mimetype="application/x-pem-file")


def verify_webhook_signature(fake: PayPalFake, body: Body) -> dict[str, Any]:
    required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id", "webhook_event")
    missing = [name for name in required if not body.get(name)]
    if missing:
        raise invalid("MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.", f"/{missing[0]}")
    delivery = fake.deliveries.get(str(body["transmission_id"]))
    genuine = (
        delivery is not None
        and hmac.compare_digest(delivery["signature"], str(body["transmission_sig"]))
        and delivery["webhook_id"] == body["webhook_id"] == fake.webhook_id
        and delivery["time"] == body["transmission_time"]
        and delivery["event"] == body["webhook_event"]
    )
    return {"verification_status": "SUCCESS" if genuine else "FAILURE"}


ROUTES = (
    Route("POST", "/v1/notifications/verify-webhook-signature", verify_webhook_signature),
    Route("GET", CERT_PATH, certificate, Kind.PAGE),
)
